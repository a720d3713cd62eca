"""`rota import-ics`: a calendar file or URL becomes reminders (and schedules for series).

The file is read and checked here first, so a malformed one is refused naming its line
before the server is asked anything; `--occurrences` needs no server at all. The import
itself is the server's (POST /api/v1/calendars/{name}/import), so REST users get the same.
"""

from __future__ import annotations

import re
from datetime import datetime, tzinfo
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import urlsplit

import typer
from rich.markup import escape
from rich.table import Table

from rota.cli.common import open_client, require, wants_json
from rota.cli.output import echo, json_text, print_json, stdout
from rota.cli.times import local_zone, parse_duration
from rota.safe_text import excerpt
from rota.scheduling.triggers import parse_timezone

_UNSAFE = re.compile(r"[^A-Za-z0-9_.-]+")


def _default_calendar(source: str) -> str:
    """Return a calendar name from the file's or URL's last path segment."""
    from rota.calendar.fetch import is_url

    if is_url(source):
        parts = urlsplit(source)
        stem = Path(parts.path).stem or parts.hostname or "calendar"
    else:
        stem = Path(source).stem
    return _UNSAFE.sub("-", stem).strip("-.")[:40] or "calendar"


def _zone_name(tz: str | None) -> str:
    if tz is not None:
        parse_timezone(tz)
        return tz
    local = local_zone()
    try:
        parse_timezone(local.name)
    except ValueError:
        return "UTC"
    return local.name


def _moment(text: str | None, option: str, zone: tzinfo) -> datetime:
    if text is None:
        raise typer.BadParameter("--occurrences needs --from and --until", param_hint=option)
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{excerpt(text)} is not a date or time like 2027-03-01 or 2027-03-01T09:00",
            param_hint=option,
        ) from None
    return moment.replace(tzinfo=zone) if moment.tzinfo is None else moment


def _read(source: str) -> str:
    from rota.calendar.fetch import fetch_url, is_url, read_file

    return fetch_url(source) if is_url(source) else read_file(Path(source))


def import_ics(
    ctx: typer.Context,
    source: Annotated[str, typer.Argument(help="An .ics file, or an http(s) URL of one.")],
    device: Annotated[
        str | None, typer.Option("--device", help="Ring on this device only.")
    ] = None,
    any_device: Annotated[
        bool, typer.Option("--any-device", help="Ring on any online device (the default).")
    ] = False,
    before: Annotated[
        str, typer.Option("--before", help="How long before each event it rings: 0, 10m, 1h.")
    ] = "0",
    calendar: Annotated[
        str | None,
        typer.Option(
            "--calendar",
            help="The calendar's name, which keys its reminders (default: the file's name).",
        ),
    ] = None,
    tz: Annotated[
        str | None,
        typer.Option("--tz", help="Zone of all-day and floating times (default: local)."),
    ] = None,
    dry_run: Annotated[
        bool, typer.Option("--dry-run", help="Only list what would change.")
    ] = False,
    occurrences: Annotated[
        bool,
        typer.Option(
            "--occurrences",
            help="Only list the occurrences the file yields from --from until --until "
            "(with -o json, one JSON object a line); needs no server.",
        ),
    ] = False,
    start: Annotated[
        str | None, typer.Option("--from", help="Start of --occurrences' window (a date).")
    ] = None,
    until: Annotated[
        str | None, typer.Option("--until", help="End of --occurrences' window (excluded).")
    ] = None,
) -> None:
    """Import a calendar: each event becomes a reminder, each recurring one a schedule.

    Importing the same calendar again updates what changed and removes what the file no
    longer has, keyed by (calendar, UID, recurrence id).
    """
    # The calendar libraries (icalendar, recurring_ical_events): loaded by this command only.
    from rota.calendar.expand import occurrences_between
    from rota.calendar.reading import compact_text, read_calendar
    from rota.reminders.model import DEVICE_TAG, device_tag

    require(not (device and any_device), "give one of --device and --any-device")
    zone_name = _zone_name(tz)
    zone = parse_timezone(zone_name)
    text = _read(source)
    parsed = read_calendar(text)
    if occurrences:
        window = (_moment(start, "--from", zone), _moment(until, "--until", zone))
        require(window[0] <= window[1], f"--until {until} comes before --from {start}")
        found = occurrences_between(parsed, window[0], window[1], zone)
        _print_occurrences([o.to_dict() for o in found], as_json=wants_json(ctx))
        return
    require(start is None and until is None, "--from and --until go with --occurrences")
    before_s = parse_duration(before, "--before") or 0.0
    name = calendar if calendar is not None else _default_calendar(source)
    target = device_tag(device) if device else DEVICE_TAG
    with open_client(ctx, timeout_s=60.0) as client:
        report = client.import_calendar(
            name,
            compact_text(parsed),
            target=target,
            before=before_s,
            tz=zone_name,
            dry_run=dry_run,
        )
    if wants_json(ctx):
        print_json(report)
        return
    _print_report(name, report)


def _print_occurrences(found: list[dict[str, Any]], *, as_json: bool) -> None:
    if as_json:
        for item in found:
            typer.echo(json_text(item, indent=None))
        return
    table = Table(box=None, header_style="bold", pad_edge=False)
    for column in ("START (UTC)", "SUMMARY", "UID", "RECURRENCE ID"):
        table.add_column(column)
    for item in found:
        table.add_row(
            item["start"],
            escape(item["summary"]),
            escape(item["uid"]),
            escape(item["recurrence_id"] or "-"),
        )
    stdout().print(table)


def _print_report(name: str, report: dict[str, Any]) -> None:
    changes = [c for c in report["changes"] if c["action"] != "unchanged"]
    if changes:
        table = Table(box=None, header_style="bold", pad_edge=False)
        for column in ("CHANGE", "KIND", "AT (UTC)", "SUMMARY", "UID"):
            table.add_column(column)
        for change in changes:
            table.add_row(
                change["action"],
                change["kind"],
                change["at"] or "-",
                escape(change["summary"]),
                escape(change["uid"]),
            )
        stdout().print(table)
    would = "would be " if report["dry_run"] else ""
    counts = ", ".join(
        f"{report[key]} {would}{key}" for key in ("added", "updated", "removed", "unchanged")
    )
    echo(f"calendar {name}: {counts}; {report['past']} past events not imported")
