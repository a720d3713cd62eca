"""`rota workers` and `rota queues`: who is connected, and how deep the queues are."""

from __future__ import annotations

from typing import Annotated

import typer

from rota.cli.common import open_client
from rota.cli.output import print_json, queues_table, stdout, workers_table

app = typer.Typer(help="List and drain workers.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("ls")
def list_workers(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List workers: state, load, queues, tags, last heartbeat and resources."""
    with open_client(ctx) as client:
        workers = client.workers()
    if as_json:
        print_json(workers)
    elif not workers:
        stdout().print("no workers (start one with `rota worker`)")
    else:
        stdout().print(workers_table(workers))


@app.command("drain")
def drain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The worker's name.")],
) -> None:
    """Ask a worker to take no new jobs and finish the ones it runs."""
    with open_client(ctx) as client:
        client.drain(name)
    typer.echo(f"asked worker {name} to drain")


def queues(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List queues: pending, due and running jobs, and how long the oldest due job waits."""
    with open_client(ctx) as client:
        stats = client.queues()
    if as_json:
        print_json(stats)
    elif not stats:
        stdout().print("no queues yet (no jobs)")
    else:
        stdout().print(queues_table(stats))
