"""The `rota` command: global options, the command groups, and `main()`."""

from __future__ import annotations

import enum
from pathlib import Path
from typing import Annotated

import typer

from rota.cli import (
    backup,
    bench,
    config,
    dev,
    device,
    devices,
    import_ics,
    jobs,
    remind,
    schedules,
    server,
    submit,
    tokens,
    worker,
    workers,
)
from rota.cli.common import CliState, RotaGroup
from rota.cli.orphans import watch_parent

app = typer.Typer(
    name="rota",
    cls=RotaGroup,
    help="Rota: run Python tasks now, later or on a schedule, on any number of workers.",
    no_args_is_help=True,
    add_completion=True,
    pretty_exceptions_enable=False,
    context_settings={"help_option_names": ["-h", "--help"]},
)


class Output(enum.StrEnum):
    """How listings print."""

    TABLE = "table"
    JSON = "json"


def _version(value: bool) -> None:
    if value:
        from importlib.metadata import version

        typer.echo(f"rota {version('rota')}")
        raise typer.Exit()


@app.callback()
def options(
    ctx: typer.Context,
    server_url: Annotated[
        str | None,
        typer.Option(
            "--server",
            "-s",
            envvar="ROTA_SERVER",
            help="The Rota server the client commands use (default: the first of "
            "worker.server in rota.toml, else http://127.0.0.1:8077).",
            show_default=False,
        ),
    ] = None,
    token: Annotated[
        str | None,
        typer.Option(envvar="ROTA_TOKEN", help="Bearer token for the server.", show_default=False),
    ] = None,
    config_file: Annotated[
        Path | None,
        typer.Option(
            "--config",
            envvar="ROTA_CONFIG",
            help="A rota.toml file (default: ./rota.toml if present).",
            show_default=False,
        ),
    ] = None,
    ca: Annotated[
        Path | None,
        typer.Option(
            "--ca",
            metavar="FILE",
            help="PEM file of the CA that signed an https:// server's certificate "
            "(default: ROTA_CA, else tls.ca in rota.toml, else the system's trust store).",
            show_default=False,
        ),
    ] = None,
    output: Annotated[
        Output,
        typer.Option(
            "--output",
            "-o",
            help="How listings print: a table for people, or JSON for scripts.",
        ),
    ] = Output.TABLE,
    version: Annotated[
        bool,
        typer.Option("--version", callback=_version, is_eager=True, help="Print the version."),
    ] = False,
) -> None:
    """Rota: run Python tasks now, later or on a schedule, on any number of workers.

    Global options may come before or after the command: `rota submit X --server URL`.
    A server named without a scheme (localhost:8077) is reached over http://.
    """
    ctx.obj = CliState(
        server=server_url, token=token, config=config_file, ca=ca, output=str(output)
    )


app.command("dev")(dev.dev)
app.command("server")(server.server)
app.command("migrate")(server.migrate)
app.command("bench")(bench.bench)
app.command("backup")(backup.backup)
app.command("restore")(backup.restore)
app.command("worker")(worker.worker)
app.command("device")(device.device)
app.command("submit")(submit.submit)
app.command("remind")(remind.remind)
app.command("import-ics")(import_ics.import_ics)
app.add_typer(jobs.app, name="jobs")
app.add_typer(schedules.app, name="schedules")
app.add_typer(workers.app, name="workers")
app.add_typer(tokens.app, name="tokens")
app.add_typer(devices.app, name="devices")
app.add_typer(config.app, name="config")
app.command("queues")(workers.queues)
app.command("stats")(workers.stats)


def main() -> None:
    """Run the `rota` command; errors are one line on stderr, never a traceback."""
    watch_parent()  # a child of `rota dev` stops when `rota dev` is gone, however it went
    app()


if __name__ == "__main__":
    main()
