"""When a reminder is due, from what a person types: "09:55", an ISO time, or "in 10m".

Pure: the present moment and the zone are passed in. Wall times follow the rule of fixed-time
schedules (rota.scheduling.cron.wall_time_instant): a time the clock skips means the first
instant after the gap, one it repeats means its first pass.
"""

from __future__ import annotations

import re
from datetime import datetime, time, timedelta, tzinfo
from typing import Final

from rota.errors import InvalidInput
from rota.moments import check_moment, check_span, wall_time_problem
from rota.safe_text import excerpt
from rota.scheduling.cron import wall_time_instant

PAST_TOLERANCE_S: Final = 60.0
"""A one-off reminder may be due this long ago at most (the client's clock may be behind)."""
CLOCK_TIME: Final = re.compile(r"^(\d{1,2}):(\d{2})(?::(\d{2}))?$")
"""A time of day as `at` takes it: HH:MM or HH:MM:SS, the next such wall time."""
_RELATIVE: Final = re.compile(r"^(?:in\s+|\+)\s*((?:\d+(?:\.\d+)?\s*(?:ms|s|m|h|d)\s*)+)$")
_PART: Final = re.compile(r"(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)")
_UNIT_S: Final = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}
_REPEAT_WORDS: Final = ("hourly", "daily", "weekdays", "weekly")
_DAY_NAMES: Final = ("MON", "TUE", "WED", "THU", "FRI", "SAT", "SUN")
AT_HELP: Final = (
    "use HH:MM (the next one in the zone), an ISO 8601 time like 2030-01-31T09:55, "
    "or a span from now like 'in 10m' or 'in 1h30m'"
)


def due_at(text: str, zone: tzinfo, now: datetime) -> datetime:
    """Return the moment (UTC) `text` names, read in `zone` at `now` (aware).

    Accepts "HH:MM" or "HH:MM:SS" (the next such wall time strictly after now), "in 10m" or
    "+10m" (units ms, s, m, h, d, combinable: "in 1h30m"), and ISO 8601 (without an offset
    it is read in `zone`). Raises InvalidInput "at: ..." for anything else, for a time out
    of rota.moments' range, and for an ISO time more than a minute in the past.
    """
    text = text.strip()
    clock = CLOCK_TIME.fullmatch(text)
    if clock is not None:
        return _next_wall_time(clock, zone, now, text)
    relative = _RELATIVE.fullmatch(text)
    if relative is not None:
        seconds = sum(
            float(number) * _UNIT_S[unit] for number, unit in _PART.findall(relative.group(1))
        )
        return check_moment(now + timedelta(seconds=check_span(seconds, "at")), "at")
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"at: {excerpt(text)} is not a time: {AT_HELP}") from None
    if moment.tzinfo is None:
        problem = wall_time_problem(moment)
        if problem is not None:
            raise InvalidInput(f"at: {problem}")
        moment = wall_time_instant(moment, zone)
    moment = check_moment(moment, "at")
    if moment < now - timedelta(seconds=PAST_TOLERANCE_S):
        raise InvalidInput(f"at: {text} is in the past (it is now {now.isoformat()})")
    return moment


def repeat_cron(repeat: str, wall: datetime | None) -> str:
    """Return the cron expression of `repeat`: a word (hourly, daily, weekdays, weekly) read
    at the wall time `wall` (naive, in the reminder's zone), or a cron expression as given.

    hourly needs no wall time (minute 0 without one); the others raise InvalidInput without.
    """
    word = repeat.strip().lower()
    if word not in _REPEAT_WORDS:
        return repeat
    if wall is None:
        if word != "hourly":
            raise InvalidInput(f"repeat: {word} needs --at, the time of day it rings")
        return "0 * * * *"
    seconds = f"{wall.second} " if wall.second else ""
    if word == "hourly":
        return f"{seconds}{wall.minute} * * * *"
    days = {"daily": "*", "weekdays": "MON-FRI", "weekly": _DAY_NAMES[wall.weekday()]}[word]
    return f"{seconds}{wall.minute} {wall.hour} * * {days}"


def _next_wall_time(clock: re.Match[str], zone: tzinfo, now: datetime, text: str) -> datetime:
    hour, minute, second = int(clock.group(1)), int(clock.group(2)), int(clock.group(3) or 0)
    try:
        wanted = time(hour, minute, second)
    except ValueError:
        raise InvalidInput(f"at: {text} is not a time of day (00:00 to 23:59:59)") from None
    today = now.astimezone(zone).date()
    for days in range(3):  # today, else tomorrow; a third day only past a skipped wall time
        wall = datetime.combine(today + timedelta(days=days), wanted)
        moment = wall_time_instant(wall, zone)
        if moment > now:
            return check_moment(moment, "at")
    raise AssertionError("unreachable: a wall time recurs within two days")  # pragma: no cover
