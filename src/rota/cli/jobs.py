"""`rota jobs`: list, show, cancel, retry, follow and wait for jobs."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Annotated

import typer

from rota.cli.common import EXIT_FAILURE, error_line, open_client
from rota.cli.output import (
    event_line,
    jobs_table,
    print_json,
    progress_text,
    show_job,
    stderr,
    stdout,
)
from rota.errors import RotaError, ServerUnavailable
from rota.jobs import JobState
from rota.sync import Client
from rota.types import JobId, Payload

FOLLOW_POLL_S = 0.5
WAIT_POLL_S = 1.0
"""How often a wait refreshes its status line."""

app = typer.Typer(help="List, inspect, cancel and retry jobs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON instead of a table.")]


@app.command("ls")
def list_jobs(
    ctx: typer.Context,
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only jobs of this queue.")] = None,
    task: Annotated[str | None, typer.Option(help="Only jobs of this task.")] = None,
    worker: Annotated[str | None, typer.Option(help="Only jobs run by this worker.")] = None,
    search: Annotated[
        str | None, typer.Option("--search", "-q", help="A job id or idempotency key.")
    ] = None,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many jobs.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Start after this job id.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first."""
    with open_client(ctx) as client:
        page = client.list_jobs(
            state=state,
            queue=queue,
            task=task,
            worker=worker,
            q=search,
            limit=limit,
            cursor=cursor,
        )
    if as_json:
        print_json(page)
        return
    jobs: list[Payload] = page["jobs"]
    console = stdout()
    if not jobs:
        console.print("no jobs")
        return
    console.print(jobs_table(jobs))
    if page.get("next_cursor"):
        stderr().print(f"[dim]more: rota jobs ls --cursor {page['next_cursor']}[/]")


@app.command("show")
def show(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    as_json: JsonFlag = False,
) -> None:
    """Show one job: its arguments, outcome and execution log."""
    with open_client(ctx) as client:
        job = client.get_job(job_id)
        if as_json:
            print_json(job)
            return
        events = client.events(job_id)
    show_job(stdout(), job, events)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(metavar="ID", help="The jobs to cancel.")],
) -> None:
    """Cancel pending or running jobs."""
    with open_client(ctx) as client:
        _each(job_ids, client.cancel, "cancelled")


@app.command("retry")
def retry(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(metavar="ID", help="The jobs to retry.")],
) -> None:
    """Put failed, cancelled or expired jobs back to pending."""
    with open_client(ctx) as client:
        _each(job_ids, client.retry, "retried")


@app.command("logs")
def logs(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job finishes.")
    ] = False,
) -> None:
    """Print a job's execution log: its transitions and the lines it logged."""
    console = stdout()
    after = 0
    with open_client(ctx) as client:
        while True:
            # Read the state before the events, so no line logged before the end is missed.
            finished = JobState(client.get_job(job_id)["state"]).finished if follow else True
            for event in client.events(job_id, after=after):
                console.print(event_line(event))
                after = max(after, int(event.get("id") or 0))
            if finished:
                return
            time.sleep(FOLLOW_POLL_S)


@app.command("wait")
def wait(
    ctx: typer.Context,
    job_id: Annotated[str, typer.Argument(metavar="ID", help="The job's id.")],
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds.", min=0)
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Wait for a job to finish and print its result (exit 1 if it did not succeed)."""
    with open_client(ctx) as client:
        code = wait_and_show(client, job_id, timeout_s=timeout, as_json=as_json)
    raise typer.Exit(code)


def wait_and_show(
    client: Client, job_id: JobId, *, timeout_s: float | None = None, as_json: bool = False
) -> int:
    """Wait for the job with a live status line, print its outcome, return the exit code."""
    console = stderr()
    with console.status(f"{job_id}  waiting") as status:
        job = client.wait(
            job_id,
            timeout_s=timeout_s,
            poll_s=WAIT_POLL_S,
            on_update=lambda update: status.update(f"{job_id}  {progress_text(update)}"),
        )
    succeeded = job["state"] == JobState.SUCCEEDED
    if as_json:
        print_json(job)
    elif succeeded:
        print_json(job["result"])
    if succeeded:
        return 0
    outcome = f"job {job_id} ({job['task']}) {job['state']}"
    if job.get("error"):
        outcome += f": {job['error']}"
        outcome += f" (traceback: rota jobs show {job_id})" if job.get("traceback") else ""
    typer.echo(error_line(outcome), err=True)
    return EXIT_FAILURE


def _each(job_ids: list[str], action: Callable[[str], Payload], done: str) -> None:
    """Apply the action to every id, report each, and exit 1 if any failed."""
    failures = 0
    for job_id in job_ids:
        try:
            job = action(job_id)
        except ServerUnavailable:
            raise
        except RotaError as exc:
            failures += 1
            typer.echo(error_line(f"{job_id}: {exc.message}"), err=True)
            continue
        typer.echo(f"{done} {job['id']} ({job['state']})")
    if failures:
        raise typer.Exit(EXIT_FAILURE)
