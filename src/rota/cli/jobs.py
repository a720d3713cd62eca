"""`rota jobs`: list, show, cancel, retry, follow and wait for jobs.

Every command that takes a job's id also takes the short id tables show (its last 12
characters), or any start of it that names one job.
"""

from __future__ import annotations

import enum
import time
from collections.abc import Callable
from typing import TYPE_CHECKING, Annotated

import typer

from rota.cli.common import (
    EXIT_FAILURE,
    EXIT_INTERRUPTED,
    error_line,
    open_client,
    parse_kwargs,
    parse_value,
    wants_json,
)
from rota.cli.output import (
    attempts_table,
    echo,
    event_line,
    jobs_table,
    json_text,
    print_json,
    print_result,
    show_job,
    stderr,
    stdout,
    wait_status,
    warning_lines,
)
from rota.cli.times import parse_moment
from rota.errors import InvalidInput, JobNotFound, RotaError, ServerUnavailable, TimeoutExpired
from rota.jobs import JobState
from rota.safe_text import excerpt
from rota.types import JobId, Payload

if TYPE_CHECKING:
    from rota.sync import Client

FOLLOW_POLL_S = 0.5
WAIT_POLL_S = 1.0
"""How often a wait refreshes its status line."""
FULL_ID_CHARS = 36

app = typer.Typer(help="List, inspect, cancel and retry jobs.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (as --output json).")]
IdArg = Annotated[str, typer.Argument(metavar="ID", help="The job's id, or its short id.")]


class Sort(enum.StrEnum):
    CREATED_AT = "created_at"
    RUN_AT = "run_at"
    DURATION = "duration"
    TASK = "task"
    STATE = "state"


class Order(enum.StrEnum):
    ASC = "asc"
    DESC = "desc"


class RetryState(enum.StrEnum):
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"


@app.command("ls")
def list_jobs(
    ctx: typer.Context,
    state: Annotated[JobState | None, typer.Option(help="Only jobs in this state.")] = None,
    queue: Annotated[str | None, typer.Option(help="Only jobs of this queue.")] = None,
    task: Annotated[
        str | None, typer.Option(help="Only jobs of this task (or tasks whose name starts so).")
    ] = None,
    worker: Annotated[str | None, typer.Option(help="Only jobs run by this worker.")] = None,
    schedule: Annotated[
        str | None, typer.Option(help="Only jobs of this schedule (name or id).")
    ] = None,
    search: Annotated[
        str | None,
        typer.Option(
            "--search",
            "-q",
            help="An id (or its short id), a key, the start of a task name, or text in the "
            "arguments, result or error.",
        ),
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="Only jobs created at or after (ISO 8601).")
    ] = None,
    until: Annotated[str | None, typer.Option(help="Only jobs created before (ISO 8601).")] = None,
    sort: Annotated[Sort, typer.Option(help="Sort by this column.")] = Sort.CREATED_AT,
    order: Annotated[Order, typer.Option(help="Ascending or descending.")] = Order.DESC,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many jobs.")] = 50,
    cursor: Annotated[str | None, typer.Option(help="Where the page starts.")] = None,
    as_json: JsonFlag = False,
) -> None:
    """List jobs, newest first unless told otherwise."""
    with open_client(ctx) as client:
        page = client.list_jobs(
            state=state,
            queue=queue,
            task=task,
            worker=worker,
            schedule=schedule,
            q=search,
            created_after=parse_moment(since, "--since"),
            created_before=parse_moment(until, "--until"),
            sort=str(sort),
            order=str(order),
            limit=limit,
            cursor=cursor,
        )
    if wants_json(ctx, as_json):
        print_json(page)
        return
    jobs: list[Payload] = page["jobs"]
    console = stdout()
    if not jobs:
        console.print("no jobs")
        return
    console.print(jobs_table(jobs))
    for line in warning_lines(jobs):
        stderr().print(line)
    if page.get("next_cursor"):
        stderr().print(f"[dim]more: rota jobs ls --cursor {page['next_cursor']}[/]")


@app.command("show")
def show(ctx: typer.Context, job_id: IdArg, as_json: JsonFlag = False) -> None:
    """Show one job: its arguments, outcome, warning and execution log."""
    with open_client(ctx) as client:
        job = client.get_job(resolve_id(client, job_id))
        if wants_json(ctx, as_json):
            print_json(job)
            return
        events = client.events(job["id"])
    show_job(stdout(), job, events)


@app.command("attempts")
def attempts(ctx: typer.Context, job_id: IdArg, as_json: JsonFlag = False) -> None:
    """List a job's attempts: worker, times, outcome, and each one's error."""
    with open_client(ctx) as client:
        found = client.attempts(resolve_id(client, job_id))
    if wants_json(ctx, as_json):
        print_json(found)
        return
    if not found:
        stdout().print("no attempts yet")
        return
    stdout().print(attempts_table(found))
    for attempt in found:
        if attempt.get("traceback"):
            stdout().print(f"[bold]attempt {attempt['attempt']}[/] traceback:")
            stdout().print(str(attempt["traceback"]).rstrip(), markup=False)


@app.command("cancel")
def cancel(
    ctx: typer.Context,
    job_ids: Annotated[list[str], typer.Argument(metavar="ID", help="The jobs to cancel.")],
) -> None:
    """Cancel pending or running jobs."""
    with open_client(ctx) as client:
        _each(client, job_ids, client.cancel, "cancelled")


@app.command("retry")
def retry(
    ctx: typer.Context,
    job_ids: Annotated[
        list[str] | None, typer.Argument(metavar="[ID]...", help="The jobs to retry.")
    ] = None,
    arg: Annotated[
        list[str] | None,
        typer.Option(
            "--arg", "-a", help="New positional arguments (each JSON if it parses), repeated."
        ),
    ] = None,
    kwarg: Annotated[
        list[str] | None,
        typer.Option("--kwarg", "-k", metavar="KEY=VALUE", help="New keyword arguments."),
    ] = None,
    task: Annotated[
        str | None, typer.Option(help="Without IDs: retry every such job of this task.")
    ] = None,
    since: Annotated[
        str | None, typer.Option(help="With --task: only jobs finished at or after (ISO 8601).")
    ] = None,
    state: Annotated[
        RetryState, typer.Option(help="With --task: jobs in this state.")
    ] = RetryState.FAILED,
) -> None:
    """Put failed, cancelled or expired jobs back to pending: by id (optionally with new
    arguments), or all of a task's with --task."""
    if job_ids and task is not None:
        raise typer.BadParameter("give job ids or --task, not both", param_hint="--task")
    if not job_ids and task is None:
        raise typer.BadParameter("give job ids, or --task to retry all of a task's")
    with open_client(ctx) as client:
        if task is not None:
            counts = client.retry_many(task, since=parse_moment(since, "--since"), state=str(state))
            echo(f"retried {counts['retried']} {state} jobs of {task}")
            if counts.get("skipped"):
                typer.echo(f"skipped {counts['skipped']} (still stopping, or changed)", err=True)
            return
        args = [parse_value(text) for text in arg] if arg else None
        kwargs = parse_kwargs(kwarg) if kwarg else None

        def again(job_id: str) -> Payload:
            return client.retry(job_id, args=args, kwargs=kwargs)

        _each(client, job_ids or [], again, "retried")


@app.command("logs")
def logs(
    ctx: typer.Context,
    job_id: IdArg,
    follow: Annotated[
        bool, typer.Option("--follow", "-f", help="Keep printing until the job finishes.")
    ] = False,
    as_json: Annotated[
        bool,
        typer.Option(
            "--json", help="Print JSON (as --output json): a list, or with --follow a line each."
        ),
    ] = False,
) -> None:
    """Print a job's execution log: its transitions and the lines it logged."""
    console = stdout()
    json_out = wants_json(ctx, as_json)
    after = 0
    with open_client(ctx) as client:
        job_id = resolve_id(client, job_id)
        if json_out and not follow:
            print_json(client.events(job_id))
            return
        while True:
            # Read the state before the events, so no line logged before the end is missed.
            finished = JobState(client.get_job(job_id)["state"]).finished if follow else True
            for event in client.events(job_id, after=after):
                if json_out:
                    typer.echo(json_text(event, indent=None))
                else:
                    console.print(event_line(event))
                after = max(after, int(event.get("id") or 0))
            if finished:
                return
            time.sleep(FOLLOW_POLL_S)


@app.command("wait")
def wait(
    ctx: typer.Context,
    job_id: IdArg,
    timeout: Annotated[
        float | None, typer.Option(help="Give up after this many seconds.", min=0)
    ] = None,
    as_json: JsonFlag = False,
) -> None:
    """Wait for a job to finish and print its result (exit 1 if it did not succeed)."""
    with open_client(ctx) as client:
        full_id = resolve_id(client, job_id)
        code = wait_and_show(client, full_id, timeout_s=timeout, as_json=wants_json(ctx, as_json))
    raise typer.Exit(code)


def resolve_id(client: Client, text: str) -> JobId:
    """Return the full id of the job `text` names: its id, or the start or the end (the
    short id tables show) of exactly one job's id. JobNotFound or InvalidInput otherwise."""
    text = text.strip()
    if len(text) == FULL_ID_CHARS:
        return text
    if not text:
        raise InvalidInput("give a job's id")
    page = client.list_jobs(q=text, limit=20)
    matches = [
        job["id"]
        for job in page["jobs"]
        if job["id"].startswith(text.lower()) or job["id"].endswith(text.lower())
    ]
    if not matches:
        raise JobNotFound(f"no job has an id that starts or ends with {excerpt(text)}")
    if len(matches) > 1:
        shown = ", ".join(matches[:3])
        raise InvalidInput(
            f"{excerpt(text)} names {len(matches)} jobs ({shown}...); give more of the id"
        )
    return str(matches[0])


def wait_and_show(
    client: Client, job_id: JobId, *, timeout_s: float | None = None, as_json: bool = False
) -> int:
    """Wait for the job with a live status line (state, progress, its last message and the
    time waited), print its outcome, and return the exit code. A string result prints as
    it is, any other as JSON. Ctrl-C stops the wait, not the job: it says so and exits 130."""
    console = stderr()
    started = time.monotonic()
    try:
        with console.status(f"{job_id}  waiting") as status:
            job = _wait(client, job_id, timeout_s, started, status.update)
    except KeyboardInterrupt:
        typer.echo(
            f"rota: interrupted: job {job_id} keeps running; follow it with "
            f"`rota jobs wait {job_id}`, stop it with `rota jobs cancel {job_id}`",
            err=True,
        )
        return EXIT_INTERRUPTED
    succeeded = job["state"] == JobState.SUCCEEDED
    if as_json:
        print_json(job)
    elif succeeded:
        print_result(job.get("result"))
    if succeeded:
        return 0
    outcome = f"job {job_id} ({job['task']}) {job['state']}"
    if job.get("error"):
        outcome += f": {job['error']}"
        outcome += f" (traceback: rota jobs show {job_id})" if job.get("traceback") else ""
    typer.echo(error_line(outcome), err=True)
    return EXIT_FAILURE


def _wait(
    client: Client,
    job_id: JobId,
    timeout_s: float | None,
    started: float,
    show: Callable[[str], None],
) -> Payload:
    """Long-poll the job until it is finished, refreshing the status line after each poll
    with the job's last progress message (read from its execution log when the server's
    job carries no `progress_message`)."""
    message: str | None = None
    after = 0
    latest: Payload = {}
    while True:
        left = None if timeout_s is None else timeout_s - (time.monotonic() - started)
        if left is not None and left <= 0:
            raise TimeoutExpired(f"job {job_id} did not finish within {timeout_s:g} s")
        poll_s = WAIT_POLL_S if left is None else min(WAIT_POLL_S, left)
        try:
            job = client.wait(job_id, timeout_s=poll_s, poll_s=poll_s, on_update=latest.update)
        except TimeoutExpired:
            job = dict(latest) or client.get_job(job_id)
        if JobState(job["state"]).finished:
            return job
        if "progress_message" in job:
            message = job["progress_message"]
        else:
            for event in client.events(job_id, after=after):
                after = max(after, int(event.get("id") or 0))
                if event.get("kind") == "progress" and event.get("message"):
                    message = str(event["message"])
        show(wait_status(job, message, time.monotonic() - started))


def _each(client: Client, job_ids: list[str], action: Callable[[str], Payload], done: str) -> None:
    """Apply the action to every id (or short id), report each, and exit 1 if any failed."""
    failures = 0
    for job_id in job_ids:
        try:
            job = action(resolve_id(client, job_id))
        except ServerUnavailable:
            raise
        except RotaError as exc:
            failures += 1
            typer.echo(error_line(f"{job_id}: {exc.message}"), err=True)
            continue
        typer.echo(f"{done} {job['id']} ({job['state']})")
    if failures:
        raise typer.Exit(EXIT_FAILURE)
