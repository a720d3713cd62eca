"""The calendar trigger: fires `before_s` ahead of each occurrence of an iCalendar event.

Pure: the fire times are a function of the stored event text (its VEVENTs with RRULE,
RDATE, EXDATE, RECURRENCE-ID overrides, and the VTIMEZONEs they name), the zone of its
floating times, and the moment asked about. The expansion is recurring-ical-events'
(rota.calendar.expand), so daylight saving follows the event's own zone rules: a weekly
09:00 Europe/Berlin meeting is at 08:00 UTC in winter and 07:00 UTC in summer.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta
from typing import Final
from zoneinfo import ZoneInfo

from rota.calendar.expand import Occurrence, occurrences_after, parse_stored
from rota.errors import InvalidInput
from rota.moments import LATEST_AT

MAX_ICS_CHARS: Final = 256 * 1024
"""The longest event text a calendar schedule keeps (one event and its overrides)."""
_ONE_MICROSECOND: Final = timedelta(microseconds=1)


def _utc(moment: datetime, what: str) -> datetime:
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidInput(f"{what} must be an aware datetime (with a time zone)")
    return moment.astimezone(UTC)


@dataclass(frozen=True, slots=True)
class CalendarTrigger:
    """Fires at each occurrence's start minus `before_s`, within [start_at, end_at].

    Raises InvalidInput (InvalidCalendar) for a text that is not a calendar with an event.
    """

    ics: str
    tz: ZoneInfo
    """The zone of floating times and all-day events (which start at midnight there)."""
    _: KW_ONLY
    before_s: float = 0.0
    start_at: datetime | None = None
    end_at: datetime | None = None

    def __post_init__(self) -> None:
        if not isinstance(self.ics, str) or len(self.ics) > MAX_ICS_CHARS:
            raise InvalidInput(f"must be an iCalendar text of at most {MAX_ICS_CHARS} characters")
        if not parse_stored(self.ics).walk("VEVENT"):
            raise InvalidInput("the calendar text holds no VEVENT")
        for name in ("start_at", "end_at"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, _utc(value, name))
        if self.start_at is not None and self.end_at is not None and self.end_at < self.start_at:
            raise InvalidInput("end_at: must not be before start_at")

    @property
    def _before(self) -> timedelta:
        return timedelta(seconds=self.before_s)

    @property
    def _last_at(self) -> datetime:
        return LATEST_AT if self.end_at is None else min(self.end_at, LATEST_AT)

    def next_after(self, after: datetime) -> datetime | None:
        """Return the first fire time strictly after `after` within the window, or None."""
        moment = _utc(after, "after")
        if self.start_at is not None and moment < self.start_at:
            moment = self.start_at - _ONE_MICROSECOND
        if moment >= self._last_at:
            return None
        found = self._first_after(moment)
        if found is None:
            return None
        fire_at = found.start_at - self._before
        return None if fire_at > self._last_at else fire_at

    def occurrence_at(self, fire_at: datetime) -> Occurrence | None:
        """Return the occurrence that fires at `fire_at`, or None if none does."""
        moment = _utc(fire_at, "fire_at")
        found = self._first_after(moment - _ONE_MICROSECOND)
        if found is None or found.start_at - self._before != moment:
            return None
        return found

    def _first_after(self, moment: datetime) -> Occurrence | None:
        calendar = parse_stored(self.ics)
        return next(occurrences_after(calendar, moment + self._before, self.tz), None)
