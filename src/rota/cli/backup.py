"""`rota backup` and `rota restore`: a consistent copy of an SQLite store, and putting one back."""

from __future__ import annotations

from pathlib import Path
from typing import Annotated

import typer

from rota.cli.common import state

DbOption = Annotated[
    str | None, typer.Option(help="The SQLite store (default: the `db` setting, rota.db).")
]
ConfigOption = Annotated[
    Path | None, typer.Option(help="A rota.toml file (default: ./rota.toml if present).")
]


def backup(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="Where to write the backup (a new file).")],
    db: DbOption = None,
    force: Annotated[bool, typer.Option("--force", help="Replace FILE if it exists.")] = False,
    config: ConfigOption = None,
) -> None:
    """Copy the SQLite store to FILE, consistently, even while its server runs."""
    from rota.backup import backup as make_backup
    from rota.backup import sqlite_path
    from rota.settings import load_settings

    settings = load_settings({"db": db}, config_path=config or state(ctx).config)
    facts = make_backup(sqlite_path(settings.store.db), file, force=force)
    typer.echo(
        f"backed up {settings.store.db} to {file}: {facts.jobs} job(s), "
        f"schema version {facts.schema_version}, {facts.size_bytes} bytes"
    )


def restore(
    ctx: typer.Context,
    file: Annotated[Path, typer.Argument(help="A file made by `rota backup`.")],
    db: DbOption = None,
    force: Annotated[
        bool, typer.Option("--force", help="Replace an existing store (its server stopped).")
    ] = False,
    config: ConfigOption = None,
) -> None:
    """Check a backup and put it in place as the SQLite store (with its server stopped)."""
    from rota.backup import known_schema_version, sqlite_path
    from rota.backup import restore as put_back
    from rota.settings import load_settings

    settings = load_settings({"db": db}, config_path=config or state(ctx).config)
    facts = put_back(file, sqlite_path(settings.store.db), force=force)
    behind = known_schema_version() - facts.schema_version
    later = f"; the server applies {behind} newer migration(s) when it starts" if behind else ""
    typer.echo(
        f"restored {file} to {settings.store.db}: {facts.jobs} job(s), "
        f"schema version {facts.schema_version}{later}"
    )
