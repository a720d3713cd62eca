"""`rota server`: run the API, the dispatcher and the dashboard."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated

import typer

from rota.cli.common import ALLOWED_HOSTS_HELP, state

SERVER_FLAGS = {
    "certfile": "--tls-cert",
    "keyfile": "--tls-key",
    "allowed_hosts": "--allowed-hosts",
}
"""The flags whose names differ from their keys, named in errors."""


def server(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option(help="SQLite file, or a postgresql:// DSN (default: rota.db).")
    ] = None,
    host: Annotated[str | None, typer.Option(help="Address to bind (default: 127.0.0.1).")] = None,
    port: Annotated[
        int | None, typer.Option(help="Port to listen on (default: 8077).", min=0, max=65535)
    ] = None,
    tls_cert: Annotated[
        Path | None,
        typer.Option(
            "--tls-cert",
            metavar="FILE",
            help="Serve HTTPS and WSS with this PEM certificate chain (with --tls-key).",
        ),
    ] = None,
    tls_key: Annotated[
        Path | None,
        typer.Option(
            "--tls-key", metavar="FILE", help="The PEM private key of --tls-cert (unencrypted)."
        ),
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A rota.toml file (default: ./rota.toml if present).")
    ] = None,
    allowed_hosts: Annotated[
        str | None,
        typer.Option(
            metavar="HOSTS",
            help=ALLOWED_HOSTS_HELP,
        ),
    ] = None,
    anonymous: Annotated[
        bool | None,
        typer.Option(
            "--anonymous",
            help="Let requests without a token do everything (loopback addresses only).",
        ),
    ] = None,
) -> None:
    """Run a Rota server until SIGINT or SIGTERM (flags > ROTA_* env > rota.toml).

    Every request needs a token (`rota tokens create`); the first start on a new store
    prints an admin token once."""
    from rota.settings import load_settings

    settings = load_settings(
        {
            "db": db,
            "host": host,
            "port": port,
            "certfile": tls_cert,
            "keyfile": tls_key,
            "anonymous": anonymous,
            "allowed_hosts": allowed_hosts,
        },
        config_path=config or state(ctx).config,
        flags=SERVER_FLAGS,
    )
    from rota.launch import can_exec, exec_lean, uvloop_installed

    if can_exec():
        # The server runs as `python -m rota.server` in this same process, without the
        # command line's modules (about 10 MiB less resident memory). Should the exec
        # fail, the server runs here instead.
        with contextlib.suppress(OSError):
            exec_lean("rota.server", settings)
    # Imported here so that `rota --help` and the client commands do not load the server.
    import anyio

    from rota.server.main import serve

    anyio.run(serve, settings, backend_options={"use_uvloop": uvloop_installed()})


def migrate(
    ctx: typer.Context,
    db: Annotated[
        str | None, typer.Option(help="SQLite file, or a postgresql:// DSN (default: rota.db).")
    ] = None,
    config: Annotated[
        Path | None, typer.Option(help="A rota.toml file (default: ./rota.toml if present).")
    ] = None,
) -> None:
    """Bring the database's schema up to date (servers also do it when they start)."""
    import anyio

    from rota.settings import load_settings
    from rota.store.factory import open_store

    settings = load_settings({"db": db}, config_path=config or state(ctx).config)

    async def run() -> int:
        return await open_store(settings.store.db).migrate()

    applied = anyio.run(run)
    typer.echo(f"{settings.store.db}: applied {applied} migration(s); the schema is up to date")
