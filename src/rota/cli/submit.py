"""`rota submit`: submit one job, optionally wait for its result."""

from __future__ import annotations

from typing import Annotated

import typer

from rota.cli.common import open_client, parse_kwargs, parse_value, wants_json
from rota.cli.jobs import wait_and_show
from rota.cli.output import echo, print_json, stderr
from rota.cli.times import parse_duration, parse_moment


def submit(
    ctx: typer.Context,
    task: Annotated[str, typer.Argument(metavar="TASK", help="The task's name, e.g. rota.sha256.")],
    args: Annotated[
        list[str] | None,
        typer.Argument(
            metavar="ARGS",
            help='Positional arguments: JSON when they parse as JSON (42, "[1,2]"), '
            "else strings. Put -- before arguments that start with a dash.",
        ),
    ] = None,
    kwarg: Annotated[
        list[str] | None,
        typer.Option("--kwarg", "-k", metavar="KEY=VALUE", help="A keyword argument."),
    ] = None,
    queue: Annotated[str | None, typer.Option(help="The queue (default: default).")] = None,
    priority: Annotated[int | None, typer.Option(help="Higher runs first (default: 0).")] = None,
    delay: Annotated[
        str | None, typer.Option(help="Run after this long: seconds, or 10m, 2h, 1d.")
    ] = None,
    at: Annotated[
        str | None,
        typer.Option("--at", help="Run at this ISO 8601 time (no offset: local time)."),
    ] = None,
    max_attempts: Annotated[
        int | None, typer.Option(help="Attempts before the job fails (default: 3).")
    ] = None,
    timeout: Annotated[
        str | None, typer.Option(help="How long one attempt may run (seconds, or 10m).")
    ] = None,
    deadline: Annotated[
        str | None, typer.Option(help="Expire the job if it has not started by then (ISO 8601).")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key: submit at most once.")
    ] = None,
    target: Annotated[
        str | None, typer.Option(help="Only this worker (name or tag) may run the job.")
    ] = None,
    wait: Annotated[
        bool, typer.Option("--wait", "-w", help="Wait for the job and print its result.")
    ] = False,
    wait_timeout: Annotated[
        float | None,
        typer.Option(help="With --wait, give up after this many seconds.", min=0),
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print the job as JSON.")] = False,
) -> None:
    """Submit a job: `rota submit rota.sha256 Hello --wait`."""
    if delay is not None and at is not None:
        raise typer.BadParameter("give --delay or --at, not both", param_hint="--at")
    positional = [parse_value(arg) for arg in args or []]
    keywords = parse_kwargs(kwarg or [])
    delay_s = parse_duration(delay, "--delay")
    run_at = parse_moment(at, "--at")
    timeout_s = parse_duration(timeout, "--timeout")
    deadline_at = parse_moment(deadline, "--deadline")
    with open_client(ctx) as client:
        job = client.submit(
            task,
            positional,
            keywords,
            queue=queue,
            priority=priority,
            delay=delay_s,
            run_at=run_at,
            max_attempts=max_attempts,
            timeout=timeout_s,
            deadline=deadline_at,
            idempotency_key=key,
            target=target,
        )
        as_json = wants_json(ctx, as_json)
        if job.get("warning"):
            echo(f"rota: warning: job {job['id']}: {job['warning']}", err=True)
        if not wait:
            if as_json:
                print_json(job)
            else:
                typer.echo(job["id"])
            return
        stderr().print(f"submitted {job['id']} ({job['task']})", markup=False)
        code = wait_and_show(client, job["id"], timeout_s=wait_timeout, as_json=as_json)
    raise typer.Exit(code)
