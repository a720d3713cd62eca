"""`rota worker`: run tasks for one or more servers."""

from __future__ import annotations

import contextlib
from pathlib import Path
from typing import Annotated, Any

import typer

from rota.cli.common import split_list, state
from rota.client_urls import with_scheme

CaOption = Annotated[
    Path | None,
    typer.Option(
        "--ca",
        metavar="FILE",
        help="PEM file of the CA that signed the servers' certificates, for https:// "
        "servers (default: the system's trust store).",
    ),
]
"""The --ca option of the commands that connect to servers as a worker."""

TokenOption = Annotated[
    str | None,
    typer.Option(
        "--token",
        help="Bearer token the worker connects with: a worker token (or an admin one) "
        "(default: ROTA_TOKEN, else auth.token in rota.toml).",
        show_default=False,
    ),
]
"""The --token option of the commands that connect to servers as a worker."""


def worker(
    ctx: typer.Context,
    server: Annotated[
        list[str] | None,
        typer.Option(
            "--server",
            "-s",
            help="Server URL; repeat it or give a comma list to fail over between servers.",
        ),
    ] = None,
    imports: Annotated[
        list[str] | None,
        typer.Option(
            "--import", "-i", metavar="MODULE", help="Import tasks from this module (repeatable)."
        ),
    ] = None,
    concurrency: Annotated[
        int | None, typer.Option("--concurrency", "-c", help="Jobs run at once (default: 4).")
    ] = None,
    prefetch: Annotated[
        int | None,
        typer.Option(
            help="Jobs taken beyond --concurrency, each started as a slot frees: fewer round "
            "trips between short jobs; a prefetched job waits behind the running ones even "
            "while another worker is idle (default: 0).",
            min=0,
        ),
    ] = None,
    queues: Annotated[
        str | None, typer.Option(help="Comma list of queues to take jobs from (default: default).")
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The worker's name (default: host name and process id).")
    ] = None,
    tags: Annotated[str | None, typer.Option(help="Comma list of tags jobs can target.")] = None,
    allow_shell: Annotated[
        bool, typer.Option("--allow-shell", help="Allow the rota.shell and rota.crash tasks.")
    ] = False,
    allow_http: Annotated[
        str | None,
        typer.Option(
            "--allow-http",
            metavar="HOSTS",
            help="Hosts the rota.http task may call, each redirect too: a comma list of "
            "names, *.domain patterns, IP addresses, or * for any (default: none, "
            "rota.http is off).",
        ),
    ] = None,
    drain_grace: Annotated[
        float | None,
        typer.Option(help="Seconds to finish running jobs after SIGTERM (default: 30).", min=0),
    ] = None,
    stop_grace: Annotated[
        float | None,
        typer.Option(
            help="Seconds a job's code may take to stop once asked (cancel, timeout, drain) "
            "before it is reported as stuck (default: 10).",
            min=0.001,
        ),
    ] = None,
    exit_when_stuck: Annotated[
        bool,
        typer.Option(
            "--exit-when-stuck",
            help="Drain and exit when a job's code will not stop, so that a supervisor "
            "restarts the worker and the slot comes back.",
        ),
    ] = False,
    ca: CaOption = None,
    token: TokenOption = None,
    config: Annotated[
        Path | None, typer.Option(help="A rota.toml file (default: ./rota.toml if present).")
    ] = None,
) -> None:
    """Run a worker until SIGTERM or SIGINT drains it (flags > ROTA_* env > rota.toml)."""
    from rota.settings import load_settings

    settings = load_settings(
        {
            **connection_values(ctx, server, ca, token),
            "imports": split_list(imports),
            "concurrency": concurrency,
            "prefetch": prefetch,
            "queues": queues,
            "name": name,
            "tags": tags,
            "allow_shell": True if allow_shell else None,
            "allow_http": allow_http,
            "drain_grace_s": drain_grace,
            "stop_grace_s": stop_grace,
            "exit_when_stuck": True if exit_when_stuck else None,
        },
        config_path=config or state(ctx).config,
    )
    from rota.launch import can_exec, exec_lean

    if can_exec():
        # The worker runs as `python -m rota.worker` in this same process, without the
        # command line's modules: about 12 MiB less resident memory per worker. Should the
        # exec fail, the worker runs here instead.
        with contextlib.suppress(OSError):
            exec_lean("rota.worker", settings)
    # Imported here so that `rota --help` and the client commands do not load the worker.
    from rota.worker.main import run_worker

    raise typer.Exit(run_worker(settings))


def connection_values(
    ctx: typer.Context, server: list[str] | None, ca: Path | None, token: str | None = None
) -> dict[str, Any]:
    """Return the settings a worker or device connects with, as given here: its servers
    (--server, else the global one), the token (--token, else the global one or
    ROTA_TOKEN) and the CA file (--ca, else the global one)."""
    return {
        "server": _with_schemes(split_list(server) or _global_server(ctx)),
        "token": token or state(ctx).token,
        "ca": ca or state(ctx).ca,
    }


def _with_schemes(urls: list[str] | None) -> list[str] | None:
    return None if urls is None else [with_scheme(url) for url in urls]


def _global_server(ctx: typer.Context) -> list[str] | None:
    """Return the URL of `rota --server URL worker` when it was given on the command line."""
    root = ctx.find_root()
    source = root.get_parameter_source("server_url")
    server = state(ctx).server
    if source is not None and source.name == "COMMANDLINE" and server:
        return split_list([server])
    return None
