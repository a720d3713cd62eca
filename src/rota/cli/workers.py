"""`rota workers` and `rota queues`: who is connected, and how deep the queues are."""

from __future__ import annotations

import enum
from typing import Annotated

import typer

from rota.cli.common import open_client, wants_json
from rota.cli.output import (
    echo,
    print_json,
    queues_table,
    show_worker,
    stats_table,
    stdout,
    workers_table,
)


class Window(enum.StrEnum):
    QUARTER = "15m"
    HOUR = "1h"
    DAY = "24h"
    WEEK = "7d"


app = typer.Typer(help="List and drain workers.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (as --output json).")]


@app.command("ls")
def list_workers(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List workers: state, load, queues, tags, last heartbeat and resources."""
    with open_client(ctx) as client:
        workers = client.workers()
    if wants_json(ctx, as_json):
        print_json(workers)
    elif not workers:
        stdout().print("no workers (start one with `rota worker`)")
    else:
        stdout().print(workers_table(workers))


@app.command("show")
def show(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The worker's name.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one worker: its tasks, running and recent jobs, and resources over time."""
    with open_client(ctx) as client:
        worker = client.worker(name)
    if wants_json(ctx, as_json):
        print_json(worker)
    else:
        show_worker(stdout(), worker)


@app.command("drain")
def drain(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="The worker's name.")],
) -> None:
    """Ask a worker to take no new jobs and finish the ones it runs."""
    with open_client(ctx) as client:
        client.drain(name)
    echo(f"asked worker {name} to drain")


def stats(
    ctx: typer.Context,
    window: Annotated[Window, typer.Option(help="Over the last 15m, 1h, 24h or 7d.")] = Window.HOUR,
    as_json: JsonFlag = False,
) -> None:
    """Per task: jobs by state, failure rate, and p50/p95 of run time and lateness."""
    with open_client(ctx) as client:
        figures = client.task_stats(str(window))
    if wants_json(ctx, as_json):
        print_json(figures)
    elif not figures["tasks"]:
        stdout().print(f"no jobs in the last {window}")
    else:
        stdout().print(stats_table(figures["tasks"]))


def queues(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List queues: pending, due and running jobs, and how long the oldest due job waits."""
    with open_client(ctx) as client:
        stats = client.queues()
    if wants_json(ctx, as_json):
        print_json(stats)
    elif not stats:
        stdout().print("no queues yet (no jobs)")
    else:
        stdout().print(queues_table(stats))
