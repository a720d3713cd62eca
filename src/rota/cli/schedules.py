"""`rota schedules`: add, list, show, pause, resume, trigger and remove schedules."""

from __future__ import annotations

import json
from datetime import datetime
from typing import Annotated, Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer
from rich.markup import escape
from rich.table import Table

from rota.cli.common import open_client, parse_kwargs, parse_value, wants_json
from rota.cli.output import age, echo, job_state, print_json, short_id, stdout
from rota.cli.times import parse_duration, parse_moment
from rota.types import Payload

app = typer.Typer(help="Run tasks on a cron expression or an interval.", no_args_is_help=True)

JsonFlag = Annotated[bool, typer.Option("--json", help="Print JSON (as --output json).")]
Ref = Annotated[str, typer.Argument(metavar="NAME", help="The schedule's name (or id).")]


@app.command("add")
def add(
    ctx: typer.Context,
    name: Annotated[str, typer.Argument(help="A unique name, e.g. nightly-report.")],
    task: Annotated[str, typer.Argument(help="The task to run, e.g. rota.echo.")],
    args: Annotated[
        list[str] | None, typer.Argument(help="Task arguments; each is JSON if it parses.")
    ] = None,
    cron: Annotated[
        str | None, typer.Option(help='5 or 6 fields, or @daily etc., e.g. "0 3 * * *".')
    ] = None,
    every: Annotated[
        str | None, typer.Option("--every", "--interval", help="An interval: 30, 10m, 2h.")
    ] = None,
    tz: Annotated[str | None, typer.Option(help="IANA time zone of --cron [default: UTC].")] = None,
    kwarg: Annotated[
        list[str] | None, typer.Option("--kwarg", "-k", help="key=value task argument.")
    ] = None,
    queue: Annotated[str | None, typer.Option(help="The jobs' queue.")] = None,
    priority: Annotated[int | None, typer.Option(help="Higher runs first.")] = None,
    target: Annotated[str | None, typer.Option(help="A worker name or tag.")] = None,
    max_attempts: Annotated[int | None, typer.Option(help="Attempts per occurrence.")] = None,
    timeout: Annotated[str | None, typer.Option(help="Per attempt, e.g. 30s, 5m.")] = None,
    jitter: Annotated[str | None, typer.Option(help="Random delay of up to this.")] = None,
    deadline: Annotated[
        str | None, typer.Option(help="Expire an occurrence not started this long after.")
    ] = None,
    start: Annotated[str | None, typer.Option(help="Not before (ISO 8601).")] = None,
    end: Annotated[str | None, typer.Option(help="Not after (ISO 8601).")] = None,
    misfire: Annotated[
        str | None, typer.Option(help="After downtime: skip, once (default) or all.")
    ] = None,
    misfire_limit: Annotated[int | None, typer.Option(help="At most this many with all.")] = None,
    overlap: Annotated[
        str | None, typer.Option(help="allow (default), or skip while the last one runs.")
    ] = None,
    paused: Annotated[bool, typer.Option("--paused", help="Create it paused.")] = False,
    as_json: JsonFlag = False,
) -> None:
    """Create a schedule: exactly one of --cron and --every."""
    options: dict[str, Any] = {
        "cron": cron,
        "interval": parse_duration(every, "--every"),
        "tz": tz,
        "queue": queue,
        "priority": priority,
        "target": target,
        "max_attempts": max_attempts,
        "timeout": parse_duration(timeout, "--timeout"),
        "jitter": parse_duration(jitter, "--jitter"),
        "deadline": parse_duration(deadline, "--deadline"),
        "start_at": parse_moment(start, "--start"),
        "end_at": parse_moment(end, "--end"),
        "misfire": misfire,
        "misfire_limit": misfire_limit,
        "overlap": overlap,
        "paused": True if paused else None,
    }
    if (cron is None) == (every is None):
        raise typer.BadParameter("give exactly one of --cron and --every", param_hint="--cron")
    values = [parse_value(arg) for arg in args or []]
    with open_client(ctx) as client:
        schedule = client.add_schedule(
            name, task, *values, kwargs=parse_kwargs(kwarg or []), **options
        )
    if wants_json(ctx, as_json):
        print_json(schedule)
        return
    echo(f"added schedule {schedule['name']} ({schedule['id']})")
    times = schedule.get("next_fire_times") or []
    if times:
        typer.echo(f"next: {times[0]}")


@app.command("ls")
def list_schedules(ctx: typer.Context, as_json: JsonFlag = False) -> None:
    """List schedules: timing, task, state and next fire time."""
    with open_client(ctx) as client:
        schedules = client.schedules()
    if wants_json(ctx, as_json):
        print_json(schedules)
    elif not schedules:
        stdout().print("no schedules (add one with `rota schedules add`)")
    else:
        stdout().print(schedules_table(schedules))


@app.command("show")
def show(ctx: typer.Context, ref: Ref, as_json: JsonFlag = False) -> None:
    """Show a schedule and its next 10 fire times."""
    with open_client(ctx) as client:
        schedule = client.get_schedule(ref)
    if wants_json(ctx, as_json):
        print_json(schedule)
        return
    console = stdout()
    state = "paused" if schedule["paused"] else "active"
    console.print(f"[bold]{escape(schedule['name'])}[/]  {state}  [dim]{schedule['id']}[/]")
    shown = {
        key: value
        for key, value in schedule.items()
        if key not in {"name", "id", "paused", "next_fire_times"} and value not in (None, [], {})
    }
    width = max([16, *(len(key) + 2 for key in shown)])
    for key, value in shown.items():
        # Text as it is; anything else in JSON's words (false, not Python's False).
        text = value if isinstance(value, str) else json.dumps(value, ensure_ascii=False)
        console.print(f"  {key + ':':<{width}}{escape(text)}")
    zone = str(schedule.get("tz") or "UTC")
    times = schedule.get("next_fire_times") or []
    console.print(f"  next fire times ({escape(zone)}, and UTC):" if times else "  next: -")
    for moment in times:
        console.print(f"    {in_zone(moment, zone)}  {moment}  ({age(moment)})")


@app.command("runs")
def runs(
    ctx: typer.Context,
    ref: Ref,
    limit: Annotated[int, typer.Option(min=1, max=500, help="At most this many runs.")] = 20,
    as_json: JsonFlag = False,
) -> None:
    """List a schedule's past runs, newest first: fire time, outcome and job."""
    with open_client(ctx) as client:
        page = client.schedule_runs(ref, limit=limit)
    if wants_json(ctx, as_json):
        print_json(page)
        return
    if not page["runs"]:
        stdout().print(f"no runs of {escape(page['schedule_name'])} yet")
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("FIRE AT", "OUTCOME", "JOB", "NOTE"):
        table.add_column(column, no_wrap=column != "NOTE")
    for run in page["runs"]:
        job = run.get("job") or {}
        table.add_row(
            str(run.get("fire_at") or "(triggered)"),
            job_state(job) if job else str(run["outcome"]),
            short_id(str(job["id"])) if job.get("id") else "-",
            escape(str(run.get("reason") or job.get("error") or "")),
        )
    stdout().print(table)


def in_zone(moment: str, zone: str) -> str:
    """Return an ISO 8601 moment as wall time in the IANA zone, with its offset (the moment
    unchanged when the zone cannot be loaded here)."""
    try:
        return datetime.fromisoformat(moment).astimezone(ZoneInfo(zone)).isoformat()
    except (ValueError, ZoneInfoNotFoundError):
        return moment


@app.command("pause")
def pause(ctx: typer.Context, ref: Ref) -> None:
    """Pause a schedule (occurrences written ahead are cancelled)."""
    with open_client(ctx) as client:
        schedule = client.pause_schedule(ref)
    echo(f"paused schedule {schedule['name']}")


@app.command("resume")
def resume(ctx: typer.Context, ref: Ref) -> None:
    """Resume a schedule from its next fire time after now."""
    with open_client(ctx) as client:
        schedule = client.resume_schedule(ref)
    echo(f"resumed schedule {schedule['name']}; next: {_next(schedule)}")


@app.command("rm")
def remove(ctx: typer.Context, ref: Ref) -> None:
    """Remove a schedule (its past jobs stay)."""
    with open_client(ctx) as client:
        schedule = client.delete_schedule(ref)
    echo(f"removed schedule {schedule['name']}")


@app.command("trigger")
def trigger(ctx: typer.Context, ref: Ref) -> None:
    """Run a schedule's task now, once; prints the job id."""
    with open_client(ctx) as client:
        job = client.trigger_schedule(ref)
    typer.echo(job["id"])


def schedules_table(schedules: list[Payload]) -> Table:
    """Return a table of schedules, one row each."""
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("NAME", "WHEN", "TZ", "TASK", "STATE", "NEXT", "FIRED", "LAST JOB"):
        table.add_column(column, no_wrap=column in {"NAME", "NEXT"})
    for schedule in schedules:
        when = schedule["cron"] or (
            "calendar" if schedule.get("ics") else f"every {schedule['interval_s']:g}s"
        )
        table.add_row(
            escape(str(schedule["name"])),
            escape(str(when)),
            escape(str(schedule["tz"])),
            escape(str(schedule["task"])),
            "paused" if schedule["paused"] else "active",
            "-" if schedule["paused"] else age(schedule.get("next_fire_at")),
            str(schedule["fired_count"]),
            str(schedule.get("last_job_state") or "-"),
        )
    return table


def _next(schedule: Payload) -> str:
    times = schedule.get("next_fire_times") or []
    return str(times[0]) if times else "never"
