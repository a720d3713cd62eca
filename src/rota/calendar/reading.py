"""Read an iCalendar file: check it line by line, parse it, and split it into its events.

A file is checked before anything is built from it, so a malformed one is refused with the
number of the line at fault (RFC 5545 section 3.1: content lines, folding, BEGIN/END) and
nothing is imported. Google's X-WR-TIMEZONE is applied with x-wr-timezone; Windows zone
names ("W. Europe Standard Time") and VTIMEZONE rules are read by icalendar.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any, Final

import icalendar
import x_wr_timezone

from rota.calendar.expand import check_recurrence
from rota.errors import InvalidCalendar
from rota.safe_text import excerpt

MAX_CALENDAR_CHARS: Final = 16 * 1024 * 1024
_NAME: Final = r"[A-Za-z0-9-]+"
_PARAM_VALUE: Final = r'(?:"[^"\x00-\x08\x0a-\x1f]*"|[^";:,\x00-\x08\x0a-\x1f]*)'
_CONTENT_LINE: Final = re.compile(rf"^({_NAME})(?:;{_NAME}={_PARAM_VALUE}(?:,{_PARAM_VALUE})*)*:")
_LINE_BREAK: Final = re.compile(r"\r\n|\n|\r")
_MOMENTS: Final = ("DTSTART", "DTEND", "RECURRENCE-ID", "EXDATE", "RDATE")
KEPT_PROPERTIES: Final = (
    "UID",
    "SUMMARY",
    "STATUS",
    "DTSTART",
    "DTEND",
    "DURATION",
    "RRULE",
    "RDATE",
    "EXDATE",
    "RECURRENCE-ID",
)
"""What an event keeps when it is stored: what says when it happens and what it is called.
Not DTSTAMP, which every export changes, nor descriptions or attendees."""


@dataclass(frozen=True, slots=True)
class _Seen:
    """A component as the line scan found it: its name, first line, and its properties' lines."""

    name: str
    line: int
    properties: dict[str, int] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class CalendarEvent:
    """One event of a calendar: every VEVENT with one UID (a series and its overrides)."""

    uid: str
    summary: str
    line: int
    """The line where its first VEVENT begins."""
    recurring: bool
    """Whether it has an RRULE or RDATE, or is an override of a series (RECURRENCE-ID)."""
    text: str
    """A VCALENDAR with only this event's VEVENTs (their KEPT_PROPERTIES) and the
    VTIMEZONEs they name: the same text for the same event, whatever else the file holds."""


def _logical_lines(text: str) -> Iterator[tuple[int, str]]:
    """Yield (number of its first physical line, unfolded line) for every content line."""
    current: str | None = None
    start = 0
    for number, line in enumerate(_LINE_BREAK.split(text), 1):
        if line[:1] in (" ", "\t") and current:
            current += line[1:]
            continue
        if current:
            yield start, current
        current, start = line, number
    if current:
        yield start, current


def _scan(text: str) -> list[_Seen]:
    """Return the components in the order they begin; raise InvalidCalendar at a bad line."""
    found: list[_Seen] = []
    stack: list[_Seen] = []
    closed_at = 0
    last = 0
    for number, line in _logical_lines(text):
        last = number
        if not line.strip():
            continue
        if closed_at:
            raise InvalidCalendar(f"line {number}: text after END:VCALENDAR (line {closed_at})")
        match = _CONTENT_LINE.match(line)
        if match is None:
            raise InvalidCalendar(
                f"line {number}: not an iCalendar line (NAME:VALUE): {excerpt(line)}"
            )
        name, value = match.group(1).upper(), line[match.end() :].strip().upper()
        if name == "BEGIN":
            if not stack and value != "VCALENDAR":
                raise InvalidCalendar(f"line {number}: a calendar begins with BEGIN:VCALENDAR")
            if not re.fullmatch(_NAME, value):
                raise InvalidCalendar(f"line {number}: BEGIN names no component")
            seen = _Seen(value, number)
            found.append(seen)
            stack.append(seen)
        elif name == "END":
            if not stack or stack[-1].name != value:
                opened = f"BEGIN:{stack[-1].name} of line {stack[-1].line}" if stack else "nothing"
                raise InvalidCalendar(f"line {number}: END:{value} does not close {opened}")
            stack.pop()
            closed_at = 0 if stack else number
        elif not stack:
            raise InvalidCalendar(f"line {number}: a calendar begins with BEGIN:VCALENDAR")
        else:
            stack[-1].properties.setdefault(name, number)
    if stack:
        raise InvalidCalendar(
            f"line {stack[-1].line}: BEGIN:{stack[-1].name} is never closed "
            f"(the file ends at line {last})"
        )
    if not found:
        raise InvalidCalendar("line 1: not an iCalendar file (no BEGIN:VCALENDAR)")
    return found


def _check_values(calendar: icalendar.Calendar, seen: list[_Seen]) -> None:
    """Raise InvalidCalendar naming the line of the first value icalendar could not read."""
    components = list(calendar.walk())
    for component, where in zip(components, seen, strict=False):
        for name, message in getattr(component, "errors", []):
            line = where.properties.get(str(name).upper(), where.line) if name else where.line
            raise InvalidCalendar(f"line {line}: {name or component.name}: {message}")
        if component.name != "VEVENT":
            continue
        if not str(component.get("UID", "")).strip():
            raise InvalidCalendar(f"line {where.line}: the event that begins here has no UID")
        if "DTSTART" not in component:
            raise InvalidCalendar(f"line {where.line}: the event that begins here has no DTSTART")
        try:
            check_recurrence(component)
        except InvalidCalendar as exc:
            raise InvalidCalendar(
                f"line {where.properties.get('RRULE', where.line)}: {exc}"
            ) from None
        for name in _MOMENTS:
            try:
                for value in _listed(component.get(name)):
                    for item in getattr(value, "dts", [value]):
                        item.dt  # noqa: B018 - decoding is the check
            except Exception as exc:  # icalendar raises several types for a broken value
                line = where.properties.get(name, where.line)
                raise InvalidCalendar(f"line {line}: {name}: {exc}") from None
        _check_span(component, where)


def _check_span(event: icalendar.Component, where: _Seen) -> None:
    """Raise InvalidCalendar unless the event ends at or after its start.

    RFC 5545 3.8.2.2: DTEND's value "MUST be later in time than" DTSTART's (an end equal to
    the start is kept: calendars write zero-length events so); 3.6.1: DTEND and DURATION
    do not both appear. The expansion library swaps a backwards pair silently, which would
    sound the reminder at the end instead of the start.
    """
    if "DTEND" in event and "DURATION" in event:
        line = where.properties.get("DURATION", where.line)
        raise InvalidCalendar(f"line {line}: DURATION: an event has DTEND or DURATION, not both")
    start: Any = event.decoded("DTSTART")
    if "DTEND" in event:
        end: Any = event.decoded("DTEND")
        if isinstance(start, datetime) != isinstance(end, datetime):
            line = where.properties.get("DTEND", where.line)
            raise InvalidCalendar(f"line {line}: DTEND: a date and a time do not mix with DTSTART")
        comparable = not isinstance(start, datetime) or (
            (start.tzinfo is None) == (end.tzinfo is None)
        )
        if comparable and end < start:
            line = where.properties.get("DTEND", where.line)
            raise InvalidCalendar(
                f"line {line}: DTEND: the event ends ({end.isoformat()}) before it starts "
                f"({start.isoformat()})"
            )
    if "DURATION" in event:
        duration: Any = event.decoded("DURATION")
        if isinstance(duration, timedelta) and duration < timedelta(0):
            line = where.properties.get("DURATION", where.line)
            raise InvalidCalendar(f"line {line}: DURATION: the event lasts less than nothing")


def _listed(value: Any) -> list[Any]:
    if value is None:
        return []
    return list(value) if isinstance(value, list) else [value]


def read_calendar(text: str) -> icalendar.Calendar:
    """Return the parsed calendar, in standard form (X-WR-TIMEZONE applied).

    Raises InvalidCalendar "line N: ..." for a file that is not valid iCalendar, or whose
    events lack a UID or a start, or hold a value that cannot be read.
    """
    if len(text) > MAX_CALENDAR_CHARS:
        raise InvalidCalendar(f"line 1: the file is larger than {MAX_CALENDAR_CHARS} characters")
    seen = _scan(text)
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise InvalidCalendar(f"line {seen[0].line}: {exc}") from None
    _check_values(calendar, seen)
    try:
        standard: icalendar.Calendar = x_wr_timezone.to_standard(calendar)
    except Exception as exc:  # an unknown X-WR-TIMEZONE, most likely
        line = seen[0].properties.get("X-WR-TIMEZONE", seen[0].line)
        raise InvalidCalendar(f"line {line}: X-WR-TIMEZONE: {exc}") from None
    return standard


def _referenced_zones(event: icalendar.Component) -> set[str]:
    zones: set[str] = set()
    for name in _MOMENTS:
        for value in _listed(event.get(name)):
            tzid = getattr(value, "params", {}).get("TZID")
            if tzid:
                zones.add(str(tzid))
    return zones


def _compact(
    events: list[icalendar.Component],
    zones: dict[str, icalendar.Component],
    *,
    ordered: bool = True,
) -> str:
    calendar = icalendar.Calendar()
    calendar.add("VERSION", "2.0")
    calendar.add("PRODID", "-//Rota//calendar import//EN")
    wanted = sorted(set().union(*(_referenced_zones(event) for event in events)))
    for tzid in wanted:
        if tzid in zones:
            calendar.add_component(zones[tzid])
    for event in sorted(events, key=_override_order) if ordered else events:
        kept = icalendar.Event()
        for name in KEPT_PROPERTIES:
            if name in event:
                kept[name] = event[name]
        calendar.add_component(kept)
    text: str = calendar.to_ical().decode()
    return text


def compact_text(calendar: icalendar.Calendar) -> str:
    """Return the calendar with only what an import reads: every event's KEPT_PROPERTIES and
    the VTIMEZONEs they name, in standard form (what a client sends, well under the size
    of an export full of descriptions and attendees)."""
    zones = {str(zone["TZID"]): zone for zone in calendar.walk("VTIMEZONE") if "TZID" in zone}
    return _compact(list(calendar.walk("VEVENT")), zones, ordered=False)


def _override_order(event: icalendar.Component) -> tuple[bool, str]:
    recurrence_id = event.get("RECURRENCE-ID")
    return recurrence_id is not None, "" if recurrence_id is None else recurrence_id.to_ical()


def calendar_events(calendar: icalendar.Calendar, text: str) -> list[CalendarEvent]:
    """Return the calendar's events, one per UID, in the order they first appear.

    `text` is the file the calendar was read from: it gives each event's line.
    """
    lines = [where.line for where in _scan(text) if where.name == "VEVENT"]
    zones = {str(zone["TZID"]): zone for zone in calendar.walk("VTIMEZONE") if "TZID" in zone}
    grouped: dict[str, list[icalendar.Component]] = {}
    first_line: dict[str, int] = {}
    for index, event in enumerate(calendar.walk("VEVENT")):
        uid = str(event["UID"]).strip()
        grouped.setdefault(uid, []).append(event)
        first_line.setdefault(uid, lines[index] if index < len(lines) else 1)
    found = []
    for uid, events in grouped.items():
        masters = [event for event in events if "RECURRENCE-ID" not in event]
        main = masters[0] if masters else events[0]
        recurring = any(
            "RRULE" in event or "RDATE" in event or "RECURRENCE-ID" in event for event in events
        )
        found.append(
            CalendarEvent(
                uid=uid,
                summary=str(main.get("SUMMARY", "")).strip(),
                line=first_line[uid],
                recurring=recurring,
                text=_compact(events, zones),
            )
        )
    return found
