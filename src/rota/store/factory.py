"""Choose and build the store a DSN names."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidInput
from rota.store.base import Durability, Store
from rota.store.sqlite import SqliteStore

_SQLITE_PREFIX = "sqlite:///"
_MEMORY = "memory:"
_POSTGRES_PREFIXES = ("postgresql://", "postgres://")
_ACCEPTED = (
    "a file path, sqlite:///relative/path, sqlite:////absolute/path, postgresql://... "
    "or memory: (for tests)"
)


def open_store(dsn: str, *, clock: Clock = SYSTEM_CLOCK, durability: Durability = "full") -> Store:
    """Return the (not yet opened) store the DSN names; the caller awaits its open().

    `durability` says when a change counts as done (see rota.store.base.Durability); the
    in-memory store keeps nothing on disk either way.

    A plain path or ``sqlite:///path`` is an SQLite file (``sqlite:////tmp/rota.db`` is
    absolute, as in SQLAlchemy). ``postgresql://`` and ``postgres://`` name PostgreSQL.
    ``memory:`` is a store in this process's memory, for tests: it keeps every guarantee of
    the others, but nothing outlives the process.
    """
    text = dsn.strip()
    if not text:
        raise InvalidInput(f"the database is empty: give {_ACCEPTED}")
    if text.lower().startswith(_MEMORY):
        if text.lower() != _MEMORY:
            raise InvalidInput(f"the in-memory store takes nothing after {_MEMORY}: give {_MEMORY}")
        from rota.store.memory import MemoryStore

        return MemoryStore(clock=clock)
    if text.lower().startswith(_POSTGRES_PREFIXES):
        from rota.store.postgres import PostgresStore  # asyncpg loads only when used

        dsn_only, schema = _split_schema(text)
        return PostgresStore(
            dsn_only,
            schema=schema,
            clock=None if clock is SYSTEM_CLOCK else clock,
            durability=durability,
        )
    if text.lower().startswith(_SQLITE_PREFIX):
        path = text[len(_SQLITE_PREFIX) :]
    elif "://" in text or text.lower().startswith("sqlite:"):
        scheme = text.split(":", 1)[0]
        raise InvalidInput(f"unsupported database {scheme!r}: give {_ACCEPTED}")
    else:
        path = text
    if not path or path == ":memory:" or path.startswith(("file::memory:", "?")):
        raise InvalidInput(
            "an in-memory SQLite database is not supported: the store uses several "
            "connections to one file; give a file path such as rota.db"
        )
    return SqliteStore(path, clock=clock, durability=durability)


def _split_schema(dsn: str) -> tuple[str, str]:
    """Return the DSN without its ``schema=`` query parameter, and that schema ("rota" if
    none): several Rota clusters can then share one database, one schema each."""
    try:
        parts = urlsplit(dsn)
    except ValueError as exc:  # an unclosed '[' of an IPv6 address
        raise InvalidInput(f"the PostgreSQL DSN cannot be read: {exc}") from exc
    query = parse_qsl(parts.query, keep_blank_values=True)
    schemas = [value for key, value in query if key == "schema"]
    rest = urlencode([(key, value) for key, value in query if key != "schema"])
    return urlunsplit(parts._replace(query=rest)), schemas[-1] if schemas else "rota"


@contextlib.asynccontextmanager
async def opened_store(dsn: str) -> AsyncIterator[Store]:
    """Open the store of `dsn` (see open_store) for the block, and close it after."""
    store = open_store(dsn)
    await store.open()
    try:
        yield store
    finally:
        await store.close()
