"""The occurrences of a calendar's events, in UTC: RRULE, RDATE, EXDATE and RECURRENCE-ID
overrides expanded by recurring-ical-events (never by Rota's own code).

Floating times and all-day events have no zone of their own: they are read in the zone
given (an all-day event starts at midnight there). Cancelled events and occurrences
(STATUS:CANCELLED, as Google writes a deleted occurrence) have no occurrence.
"""

from __future__ import annotations

import functools
import heapq
import itertools
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta, tzinfo
from typing import Any, Final

import dateutil.rrule  # type: ignore[import-untyped]
import icalendar
import recurring_ical_events

from rota.errors import InvalidCalendar, InvalidInput
from rota.safe_text import excerpt

_SLACK: Final = timedelta(days=1)
"""More than any zone's offset: floating times are found by the library in local time."""
MAX_HELD: Final = 1000
"""The most occurrences `occurrences_after` may hold to put them in order: more than this
within two days (an event every three minutes or more often: `FREQ=SECONDLY`, `MINUTELY`, a
long BYMINUTE list) is refused, as no reminder calendar asks for it and expanding it would
take the server minutes."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Occurrence:
    """One occurrence of an event: which one, when it starts (UTC) and what it is called."""

    uid: str
    recurrence_id: str | None
    """The occurrence's original start (UTC ISO 8601, or a date for all-day events) when
    its event recurs; None for a single event."""
    start_at: datetime
    summary: str
    all_day: bool

    def to_dict(self) -> dict[str, Any]:
        """Return the occurrence as one JSON line of `rota import-ics --occurrences` shows."""
        return {
            "uid": self.uid,
            "recurrence_id": self.recurrence_id,
            "start": self.start_at.isoformat(),
            "summary": self.summary,
        }


def in_utc(value: date | datetime, zone: tzinfo) -> datetime:
    """Return a DTSTART value as an aware UTC moment (floating and all-day ones in `zone`)."""
    if not isinstance(value, datetime):
        value = datetime.combine(value, time(0))
    if value.tzinfo is None or value.utcoffset() is None:
        value = value.replace(tzinfo=zone)
    return value.astimezone(UTC)


def recurrence_text(value: date | datetime, zone: tzinfo) -> str:
    """Return how a recurrence id is written: a date, or the moment in UTC (ISO 8601)."""
    if not isinstance(value, datetime):
        return value.isoformat()
    return in_utc(value, zone).isoformat()


@functools.lru_cache(maxsize=256)
def parse_stored(text: str) -> icalendar.Calendar:
    """Return the calendar of a stored event text (as reading.CalendarEvent.text holds it).

    Kept for reuse: a schedule's trigger is asked for many fire times of the same text.
    Raises InvalidCalendar for a text that is not iCalendar or recurs too often
    (check_recurrence).
    """
    try:
        calendar = icalendar.Calendar.from_ical(text)
    except ValueError as exc:
        raise InvalidCalendar(f"not an iCalendar text: {exc}") from None
    for event in calendar.walk("VEVENT"):
        check_recurrence(event)
    return calendar


def check_recurrence(event: Any) -> None:
    """Raise InvalidCalendar if the event's RRULE yields more than MAX_HELD occurrences
    within two days of its start (FREQ=SECONDLY, MINUTELY, long BYMINUTE lists): every
    expansion of such a rule (recurring-ical-events materialises whole windows) would take
    minutes and gigabytes, and no reminder calendar asks for it. A rule dateutil cannot
    read is left to the expansion, which says what is wrong with it."""
    start = event.get("DTSTART")
    rules = event.get("RRULE")
    if start is None or rules is None:
        return
    begin = start.dt if isinstance(start.dt, datetime) else datetime.combine(start.dt, time(0))
    for rule in rules if isinstance(rules, list) else [rules]:
        try:
            text = rule.to_ical().decode()
            moments = list(
                itertools.islice(dateutil.rrule.rrulestr(text, dtstart=begin), MAX_HELD + 1)
            )
        except Exception:  # the expansion reports a rule it cannot read
            continue
        if len(moments) > MAX_HELD and moments[-1] - moments[0] < _SLACK * 2:
            raise InvalidCalendar(
                f"RRULE {excerpt(text)}: more than {MAX_HELD} occurrences in two days "
                "(more often than every three minutes): not a reminder calendar"
            )


def _recurring_uids(calendar: icalendar.Calendar) -> set[str]:
    return {
        str(event["UID"]).strip()
        for event in calendar.walk("VEVENT")
        if "RRULE" in event or "RDATE" in event or "RECURRENCE-ID" in event
    }


def _occurrence(component: Any, zone: tzinfo, recurring: set[str]) -> Occurrence | None:
    if str(component.get("STATUS", "")).upper() == "CANCELLED":
        return None
    uid = str(component.get("UID", "")).strip()
    start = component["DTSTART"].dt
    original = component.get("RECURRENCE-ID")
    recurrence_id = None
    if uid in recurring:
        recurrence_id = recurrence_text(original.dt if original is not None else start, zone)
    return Occurrence(
        uid=uid,
        recurrence_id=recurrence_id,
        start_at=in_utc(start, zone),
        summary=str(component.get("SUMMARY", "")).strip(),
        all_day=not isinstance(start, datetime),
    )


def occurrences_between(
    calendar: icalendar.Calendar, start_at: datetime, end_at: datetime, zone: tzinfo
) -> list[Occurrence]:
    """Return the occurrences that start in [start_at, end_at), by start then UID.

    Raises InvalidInput when the window ends before it starts, InvalidCalendar when an
    event's recurrence cannot be expanded.
    """
    if end_at < start_at:
        raise InvalidInput(
            f"the window ends ({end_at.isoformat()}) before it starts ({start_at.isoformat()})"
        )
    recurring = _recurring_uids(calendar)
    try:
        found = recurring_ical_events.of(calendar).between(start_at - _SLACK, end_at + _SLACK)
        occurrences = [_occurrence(component, zone, recurring) for component in found]
    except InvalidCalendar:
        raise
    except Exception as exc:  # the library's errors for a rule it cannot expand
        raise InvalidCalendar(f"cannot expand the calendar: {exc}") from None
    kept = [o for o in occurrences if o is not None and start_at <= o.start_at < end_at]
    return sorted(kept, key=lambda o: (o.start_at, o.uid, o.recurrence_id or ""))


def occurrences_after(
    calendar: icalendar.Calendar, after: datetime, zone: tzinfo
) -> Iterator[Occurrence]:
    """Yield the occurrences that start strictly after `after`, soonest first."""
    recurring = _recurring_uids(calendar)
    pending: list[tuple[datetime, int, Occurrence]] = []
    order = itertools.count()
    try:
        for component in recurring_ical_events.of(calendar).after(after - _SLACK):
            occurrence = _occurrence(component, zone, recurring)
            if occurrence is None or occurrence.start_at <= after:
                continue
            # The library orders by local start; floating and zoned times may interleave
            # within a day, so hold each one until nothing earlier can come.
            heapq.heappush(pending, (occurrence.start_at, next(order), occurrence))
            while pending and pending[0][0] + _SLACK * 2 < occurrence.start_at:
                yield heapq.heappop(pending)[2]
            if len(pending) > MAX_HELD:
                raise InvalidCalendar(
                    f"event {excerpt(occurrence.uid)} recurs more than {MAX_HELD} times in two "
                    "days (more often than every three minutes): not a reminder calendar"
                )
    except InvalidCalendar:
        raise
    except Exception as exc:
        raise InvalidCalendar(f"cannot expand the calendar: {exc}") from None
    while pending:
        yield heapq.heappop(pending)[2]
