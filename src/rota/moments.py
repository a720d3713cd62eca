"""The range of times and spans Rota accepts, checked in one place.

Every moment that enters Rota (a job's `run_at` and `deadline`, a schedule's `start_at` and
`end_at`, ...) must lie in [EARLIEST_AT, LATEST_AT], and every span of seconds (`delay`,
`timeout`, `interval`, `jitter`, `deadline` of a schedule, a backoff's delays, ...) in
[0, MAX_SPAN_S]. LATEST_AT is far enough from the end of the calendar (9999-12-31) that any
accepted moment plus several accepted spans plus a day of time-zone offset is still a
datetime: the arithmetic done later (backoff, deadlines, jitter, next fire times, time-zone
conversion) can never overflow.

The server's request models, the schedule definition, the settings, the Python client and
the CLI all check through these functions, so each refuses the same values with the same
words; triggers never fire past LATEST_AT.
"""

from __future__ import annotations

import math
from datetime import UTC, datetime, timedelta
from typing import Final

from rota.errors import InvalidInput

EARLIEST_AT: Final = datetime(1970, 1, 1, tzinfo=UTC)
LATEST_AT: Final = datetime(9000, 1, 1, tzinfo=UTC)
MAX_SPAN_S: Final = 10 * 365 * 86400.0
"""Ten years: a longer span is a mistake, and it keeps moment arithmetic in range."""
MAX_TIMEOUT_S: Final = 365 * 86400.0
"""A year: the longest one attempt of a job may be allowed to run."""

_EARLIEST_WALL: Final = EARLIEST_AT.replace(tzinfo=None) - timedelta(days=2)
_LATEST_WALL: Final = LATEST_AT.replace(tzinfo=None) + timedelta(days=2)
_RANGE: Final = (
    f"must be between {EARLIEST_AT:%Y-%m-%dT%H:%M:%SZ} and {LATEST_AT:%Y-%m-%dT%H:%M:%SZ}"
)


def moment_problem(moment: datetime) -> str | None:
    """Return why the moment is not accepted (naive, or out of range), or None if it is."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        return "must be a time with a UTC offset, like 2030-01-31T09:00:00+01:00"
    # Comparing aware datetimes never converts them, so this cannot overflow.
    if not EARLIEST_AT <= moment <= LATEST_AT:
        return _RANGE
    return None


def wall_time_problem(wall: datetime) -> str | None:
    """Return why a naive wall time can lie in no zone's accepted range, or None.

    Checked before the wall time is read in a zone: no zone is more than a day from UTC, so
    a wall time further than that outside the range is refused by its text alone, and reading
    one near the ends of the calendar (0001-01-01T00:00 east of UTC) can never overflow.
    """
    if not _EARLIEST_WALL <= wall.replace(tzinfo=None) <= _LATEST_WALL:
        return _RANGE
    return None


def span_problem(value: float, *, positive: bool = False, max_s: float = MAX_SPAN_S) -> str | None:
    """Return why a span of seconds is not accepted, or None if it is.

    Spans are finite numbers from 0 (or above 0, when `positive`) to `max_s`.
    """
    if isinstance(value, bool) or not isinstance(value, int | float):
        return "must be a number of seconds"
    low = "above 0" if positive else "from 0"
    if not math.isfinite(value) or value < 0 or (positive and value == 0) or value > max_s:
        return f"must be a number of seconds {low} to {max_s:.0f}"
    return None


def check_moment(moment: datetime, name: str) -> datetime:
    """Return the moment in UTC; raise InvalidInput "<name>: must be between ..." otherwise."""
    problem = moment_problem(moment)
    if problem is not None:
        raise InvalidInput(f"{name}: {problem}")
    return moment.astimezone(UTC)


def check_span(
    value: float, name: str, *, positive: bool = False, max_s: float = MAX_SPAN_S
) -> float:
    """Return the span as a float; raise InvalidInput naming `name` when it is out of range."""
    problem = span_problem(value, positive=positive, max_s=max_s)
    if problem is not None:
        raise InvalidInput(f"{name}: {problem}")
    return float(value)


def after(now: datetime, delay_s: float, name: str = "delay") -> datetime:
    """Return `now` plus a checked delay (InvalidInput naming `name` when out of range)."""
    return now + timedelta(seconds=check_span(delay_s, name))


def wire_moment(value: datetime | str | None, name: str) -> str | None:
    """Return a moment as the API's ISO 8601 text, checked when it is a datetime.

    Text is passed on as it is (the server checks it); None stays None.
    """
    if isinstance(value, datetime):
        return check_moment(value, name).isoformat()
    return value


def wire_span(
    value: float | timedelta | None,
    name: str,
    *,
    positive: bool = False,
    max_s: float = MAX_SPAN_S,
) -> float | None:
    """Return a span (seconds or a timedelta) as checked seconds for the API; None stays None."""
    if value is None:
        return None
    seconds = value.total_seconds() if isinstance(value, timedelta) else value
    return check_span(seconds, name, positive=positive, max_s=max_s)
