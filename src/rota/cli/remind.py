"""`rota remind`: create a reminder for devices, phones and chat (jobs of task rota.remind).

The request is checked here with the server's own rules (rota.reminders.submit), so a bad
--at, --tz or --repeat is one clear line even before the server is asked.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime
from typing import Annotated, Any

import typer

from rota.cli.common import open_client, wants_json
from rota.cli.output import echo, print_json
from rota.cli.times import local_zone, parse_duration, wall_reading
from rota.clock import SYSTEM_CLOCK
from rota.errors import InvalidInput
from rota.reminders.when import AT_HELP, CLOCK_TIME
from rota.scheduling.triggers import parse_timezone

_OPTION_OF = {
    "device": "--device",
    "devices": "--devices",
    "any_device": "--any-device",
    "every": "--every",
    "repeat": "--repeat",
    "deadline": "--deadline",
    "notify": "--notify",
    "idempotency_key": "--key",
    "at": "--at",
    "tz": "--tz",
}


_FIELD_PREFIX = re.compile(rf"(^|; )({'|'.join(_OPTION_OF)}):")
_FIELD_WORD = re.compile(r"(?<![\w.-])(device|devices|any_device|repeat|every|notify)(?![\w.-])")


def remind(
    ctx: typer.Context,
    text: Annotated[str, typer.Argument(metavar="TEXT", help="What the reminder says.")],
    at: Annotated[
        str | None,
        typer.Option("--at", help=f"When it is due: {AT_HELP}. With --repeat/--every: from when."),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option(help="IANA time zone of --at and --repeat [default: the local zone]."),
    ] = None,
    device: Annotated[str | None, typer.Option(help="Ring on this device.")] = None,
    devices: Annotated[
        str | None, typer.Option(help="Ring on each of these devices: laptop,phone.")
    ] = None,
    any_device: Annotated[
        bool, typer.Option("--any-device", help="Ring on one online device (round-robin).")
    ] = False,
    repeat: Annotated[
        str | None,
        typer.Option(
            help='A cron expression ("0 9 * * MON-FRI"), or hourly, daily, weekdays or '
            "weekly at the time of --at."
        ),
    ] = None,
    every: Annotated[str | None, typer.Option(help="Repeat after this long: 30m, 1h, 1d.")] = None,
    deadline: Annotated[
        str | None,
        typer.Option(help="Not rung this long after it was due (10m): it ends expired."),
    ] = None,
    notify: Annotated[
        list[str] | None,
        typer.Option(
            "--notify",
            metavar="URL",
            help="Also send it to this Apprise URL (ntfy://, gotify://, mailto://, ...); "
            "repeatable.",
        ),
    ] = None,
    name: Annotated[
        str | None, typer.Option(help="The name of a recurring reminder's schedule.")
    ] = None,
    key: Annotated[
        str | None, typer.Option("--key", help="Idempotency key: create it at most once.")
    ] = None,
    as_json: Annotated[bool, typer.Option("--json", help="Print what was made as JSON.")] = False,
) -> None:
    """Create a reminder: `rota remind "Stand-up" --at 09:55 --device laptop`."""
    options: dict[str, Any] = {
        "at": at,
        "tz": tz or _local_zone_name(),
        "device": device,
        "devices": None if devices is None else [p.strip() for p in devices.split(",")],
        "any_device": any_device,
        "repeat": repeat,
        "every": parse_duration(every, "--every"),
        "deadline": parse_duration(deadline, "--deadline"),
        "notify": notify or [],
        "name": name,
        "idempotency_key": key,
    }
    due = _check(text, options)
    if at is not None and due is not None:
        _say_zone(at, due, options["tz"])
    with open_client(ctx) as client:
        made = client.remind(text, **options)
    if wants_json(ctx, as_json):
        print_json(made)
        return
    for job in made["jobs"]:
        where = job["target"] or "notify"
        echo(f"{job['id']}  {where}  due {_shown(job['run_at'], options['tz'])}")
        if job.get("warning"):
            echo(f"rota: warning: job {job['id']}: {job['warning']}", err=True)
    for schedule in made["schedules"]:
        timing = schedule["cron"] or f"every {schedule['interval_s']:g}s"
        upcoming = schedule["next_fire_times"][:1]
        first = _shown(upcoming[0], options["tz"]) if upcoming else "never"
        where = schedule["target"] or "notify"
        echo(f"{schedule['name']}  {where}  {timing}  next {first}")


def _say_zone(at: str, due: datetime, zone_name: str) -> None:
    """Tell stderr which zone a wall time given to --at was read in, and whether the clock
    skips it or shows it twice there; say nothing of a time with an offset or "in 10m"."""
    local = due.astimezone(parse_timezone(zone_name))
    clock = CLOCK_TIME.fullmatch(at.strip())
    if clock is not None:
        hour, minute, second = (int(part or 0) for part in clock.groups())
        wall = local.replace(hour=hour, minute=minute, second=second, tzinfo=None)
    else:
        try:
            wall = datetime.fromisoformat(at.strip())
        except ValueError:
            return
        if wall.tzinfo is not None:
            return
    typer.echo(f"rota: {wall_reading(wall, local, at, zone_name)}", err=True)


def _check(text: str, options: dict[str, Any]) -> datetime | None:
    """Raise InvalidInput (options named as on the command line) unless the server would
    accept the request; return when a one-off reminder is due (None for a recurring one)."""
    # pydantic: loaded only when a reminder is made.
    from pydantic import ValidationError

    from rota.reminders.submit import ReminderRequest, plan
    from rota.validation_text import describe_validation_errors

    try:
        request = ReminderRequest.model_validate(
            {"text": text, **{k: v for k, v in options.items() if v is not None}}
        )
    except ValidationError as exc:
        raise InvalidInput(_as_options(describe_validation_errors(exc.errors()))) from None
    try:
        made = plan(request, SYSTEM_CLOCK.now_utc())
    except InvalidInput as exc:
        raise InvalidInput(_as_options(exc.message)) from None
    return made.jobs[0].run_at if made.jobs and not made.schedules else None


def _as_options(message: str) -> str:
    """Return the server's words with its field names as this command's options."""
    message = _FIELD_PREFIX.sub(lambda m: m.group(1) + _OPTION_OF[m.group(2)] + ":", message)
    return _FIELD_WORD.sub(lambda m: _OPTION_OF[m.group(1)], message)


def _local_zone_name() -> str:
    """Return the local zone's IANA name, or UTC when it has none (a POSIX rule)."""
    local = local_zone()
    if local.zone is None or local.name.startswith("/"):
        return "UTC"
    return local.name


def _shown(moment: str, tz: str) -> str:
    from zoneinfo import ZoneInfo

    at = datetime.fromisoformat(moment)
    return f"{at.astimezone(ZoneInfo(tz)).isoformat()} ({at.astimezone(UTC):%H:%M:%S} UTC)"
