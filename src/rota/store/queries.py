"""Load SQL shipped with the package: named query blocks and numbered migrations.

A query file holds blocks, each opened by a line ``-- name: <identifier>`` and running to
the next such line. Each block is one statement. Migrations are files named
``NNNN_description.sql`` in a folder, applied in the order of their number.
"""

from __future__ import annotations

import re
import sqlite3
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources

from rota.errors import RotaError

_NAME_LINE = re.compile(r"^--\s*name:\s*(?P<name>[A-Za-z_][A-Za-z0-9_]*)\s*$")
_MIGRATION_FILE = re.compile(r"^(?P<version>\d{4})_[a-z0-9_]+\.sql$")


@dataclass(frozen=True, kw_only=True, slots=True)
class Migration:
    """One step of the schema: its version number and its statements."""

    version: int
    name: str
    statements: tuple[str, ...]


def parse_queries(text: str, *, source: str = "<sql>") -> dict[str, str]:
    """Return the named blocks of a query file, keyed by name."""
    queries: dict[str, str] = {}
    name: str | None = None
    lines: list[str] = []

    def flush() -> None:
        if name is None:
            if "".join(lines).strip() and not _only_comments(lines):
                raise RotaError(f"{source}: SQL before the first '-- name:' line")
            return
        body = "\n".join(lines).strip()
        if not body or _only_comments(lines):
            raise RotaError(f"{source}: query {name!r} is empty")
        queries[name] = body

    for line in text.splitlines():
        match = _NAME_LINE.match(line)
        if match is None:
            lines.append(line)
            continue
        flush()
        name = match["name"]
        if name in queries:
            raise RotaError(f"{source}: query {name!r} is defined twice")
        lines = []
    flush()
    return queries


def split_statements(script: str) -> list[str]:
    """Return the complete statements of a script, in order (triggers stay whole)."""
    statements: list[str] = []
    pending = ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            if not _only_comments(pending.splitlines()):
                statements.append(pending.strip())
            pending = ""
    if pending.strip() and not _only_comments(pending.splitlines()):
        raise RotaError("SQL script ends inside a statement")
    return statements


def load_queries(package: str, resource: str) -> Mapping[str, str]:
    """Return the named queries of a .sql file shipped in `package`."""
    text = resources.files(package).joinpath(resource).read_text(encoding="utf-8")
    return parse_queries(text, source=f"{package}/{resource}")


def load_migrations(package: str, folder: str) -> list[Migration]:
    """Return the migrations found in a folder of `package`, in version order."""
    migrations: list[Migration] = []
    for entry in resources.files(package).joinpath(folder).iterdir():
        match = _MIGRATION_FILE.match(entry.name)
        if match is None:
            continue
        statements = tuple(split_statements(entry.read_text(encoding="utf-8")))
        migrations.append(
            Migration(version=int(match["version"]), name=entry.name, statements=statements)
        )
    migrations.sort(key=lambda migration: migration.version)
    versions = [migration.version for migration in migrations]
    if versions != list(range(1, len(versions) + 1)):
        raise RotaError(f"migrations in {package}/{folder} must be numbered 1, 2, 3...")
    return migrations


def _only_comments(lines: list[str]) -> bool:
    return all(not line.strip() or line.strip().startswith("--") for line in lines)
