"""Next fire times of cron expressions in a time zone, with daylight saving handled exactly.

The rules (Vixie cron's, see docs/schedules.md):

- A *fixed-time* expression (minute and hour both without a leading `*`) names times of day.
  A named wall time that the clock skips fires once, at the first instant after the gap; one
  that occurs twice fires once, in the first pass.
- Any other expression is a *wildcard* one and follows elapsed time: it fires at every instant
  whose local wall time matches, so nothing fires in a skipped gap and a repeated hour fires
  in both passes.

Everything here is a pure function of its arguments: time is passed in, never read. Instants
are handled internally as whole seconds since the Unix epoch, because every fire time falls
on a whole second.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, tzinfo
from typing import Final

from rota.errors import InvalidInput
from rota.safe_text import excerpt
from rota.scheduling.cron_parse import ALIASES, CronExpression

__all__ = [
    "ALIASES",
    "SEARCH_YEARS",
    "CronExpression",
    "fire_times",
    "next_fire_at",
    "wall_time_instant",
]

# The Gregorian calendar repeats every 400 years (to the weekday), so an expression with no
# match in 400 years has none at all: `0 0 30 2 *` is reported rather than searched forever.
SEARCH_YEARS: Final = 400

_ONE_SECOND: Final = timedelta(seconds=1)
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_EPOCH_WALL: Final = datetime(1970, 1, 1)
# Step used to look for offset changes between two instants. Zones change offset at most a
# few times a year, never twice within a day, so a change cannot hide between two probes.
_PROBE_S: Final = 86_400


def next_fire_at(expr: CronExpression, after: datetime, tz: tzinfo) -> datetime:
    """Return the first fire time strictly after `after`, as an aware UTC datetime.

    `after` must be aware; `tz` is the zone the expression's wall times are read in
    (a `zoneinfo.ZoneInfo`, or `datetime.UTC`). Raises InvalidInput when the expression
    never fires (such as `0 0 30 2 *`).
    """
    first_s = _first_second_after(after)
    try:
        before_year = min(_wall(first_s, tz).year + SEARCH_YEARS + 1, datetime.max.year)
        if expr.is_fixed_time:
            found_s = _next_fixed_time(expr, first_s, tz, before_year)
        else:
            found_s = _next_elapsed_time(expr, first_s, tz, before_year)
    except OverflowError:
        found_s = None  # the search ran into the end of the calendar (year 9999)
    if found_s is None:
        raise InvalidInput(
            f"cron expression {excerpt(expr.text)} never fires: nothing matches it "
            f"within {SEARCH_YEARS} years in time zone {tz}"
        )
    return _EPOCH_UTC + timedelta(seconds=found_s)


def fire_times(expr: CronExpression, after: datetime, tz: tzinfo, count: int) -> list[datetime]:
    """Return the next `count` fire times strictly after `after`, in order, as UTC datetimes."""
    if count < 0:
        raise InvalidInput(f"count must not be negative, got {count}")
    times: list[datetime] = []
    moment = after
    for _ in range(count):
        moment = next_fire_at(expr, moment, tz)
        times.append(moment)
    return times


def wall_time_instant(wall: datetime, tz: tzinfo) -> datetime:
    """Return the instant (aware, UTC) a local wall time names in a zone, by the fixed-time rule.

    A wall time that occurs once is that instant; one that occurs twice (the clock is set
    back) is its first pass; one the clock skips (set forward) is the first instant after
    the gap. `wall` is naive. This is the rule fixed-time cron schedules follow, so a time
    typed by a person lands where such a schedule would fire.
    """
    if wall.tzinfo is not None:
        raise InvalidInput("a wall time is naive: it has no UTC offset")
    whole = wall.replace(microsecond=0)
    instant_s = _fixed_instant(whole, tz)
    moment = _EPOCH_UTC + timedelta(seconds=instant_s)
    if _wall_s(instant_s, tz) == _wall_seconds(whole):
        moment += timedelta(microseconds=wall.microsecond)  # not skipped: keep the fraction
    return moment


def _first_second_after(after: datetime) -> int:
    """Return the first whole epoch second strictly after an aware datetime."""
    if after.tzinfo is None or after.utcoffset() is None:
        raise InvalidInput("the start of a fire-time search must be an aware datetime")
    return (after - _EPOCH_UTC) // _ONE_SECOND + 1


def _next_elapsed_time(
    expr: CronExpression, first_s: int, tz: tzinfo, before_year: int
) -> int | None:
    """Return the first instant at or after `first_s` whose local wall time matches.

    Walks the stretches of constant UTC offset: within one, wall time runs in step with
    real time, so the first matching wall time in it is the answer. A stretch that ends
    before that wall time is reached (a gap or a repeat begins) restarts the search at its
    end, with the new offset.
    """
    start_s = first_s
    while True:
        offset_s = _offset_s(start_s, tz)
        wall = expr.next_wall_time(_wall_at(start_s, offset_s), before_year=before_year)
        if wall is None:
            return None
        candidate_s = _wall_seconds(wall) - offset_s
        change_s = _next_offset_change(start_s, offset_s, candidate_s, tz)
        if change_s is None:
            return candidate_s
        start_s = change_s


def _next_fixed_time(
    expr: CronExpression, first_s: int, tz: tzinfo, before_year: int
) -> int | None:
    """Return the first instant at or after `first_s` that a fixed-time expression names.

    Each matching wall time maps to one instant (itself; its first pass when repeated; the
    end of the gap when skipped), and that map never runs backwards as wall time advances.
    So the answer is the image of the first matching wall time whose image is not before
    `first_s`; the search starts at the earliest wall time that could be it.
    """
    # The smaller of the offsets either side of first_s: when first_s ends a gap, the wall
    # times inside the gap map onto it; when it lies in a repeat, the start is a few
    # matching wall times early and the loop steps over them.
    offset_s = min(_offset_s(first_s - 1, tz), _offset_s(first_s, tz))
    start = _wall_at(first_s, offset_s)
    while True:
        wall = expr.next_wall_time(start, before_year=before_year)
        if wall is None:
            return None
        instant_s = _fixed_instant(wall, tz)
        if instant_s >= first_s:
            return instant_s
        start = wall + _ONE_SECOND


def _fixed_instant(wall: datetime, tz: tzinfo) -> int:
    """Map a local wall time to the one instant a fixed-time schedule fires for it."""
    wall_s = _wall_seconds(wall)
    offsets = {_timedelta_s(wall.replace(tzinfo=tz, fold=fold).utcoffset()) for fold in (0, 1)}
    if len(offsets) == 1:
        return wall_s - offsets.pop()
    instants = sorted(wall_s - offset_s for offset_s in offsets)
    real = [instant for instant in instants if _wall_s(instant, tz) == wall_s]
    if real:
        # The wall time occurs twice: the first pass is the earlier instant.
        return real[0]
    # The wall time is skipped: the clock jumps from before it (at the earlier candidate,
    # still on the old offset) to after it (at the later one); fire when the jump happens.
    earlier_s, later_s = instants
    change_s = _next_offset_change(earlier_s, _offset_s(earlier_s, tz), later_s, tz)
    return later_s if change_s is None else change_s


def _next_offset_change(start_s: int, offset_s: int, end_s: int, tz: tzinfo) -> int | None:
    """Return the first instant in (start_s, end_s] whose offset is not `offset_s`, or None.

    `offset_s` must be the offset at `start_s`.
    """
    low_s = start_s
    while low_s < end_s:
        high_s = min(low_s + _PROBE_S, end_s)
        if _offset_s(high_s, tz) != offset_s:
            while high_s - low_s > 1:
                middle_s = (low_s + high_s) // 2
                if _offset_s(middle_s, tz) == offset_s:
                    low_s = middle_s
                else:
                    high_s = middle_s
            return high_s
        low_s = high_s
    return None


def _offset_s(instant_s: int, tz: tzinfo) -> int:
    """Return the zone's UTC offset in seconds at an instant."""
    local = (_EPOCH_UTC + timedelta(seconds=instant_s)).astimezone(tz)
    return _timedelta_s(local.utcoffset())


def _wall_s(instant_s: int, tz: tzinfo) -> int:
    """Return the local wall time at an instant, as seconds since 1970-01-01 00:00 wall."""
    return instant_s + _offset_s(instant_s, tz)


def _wall(instant_s: int, tz: tzinfo) -> datetime:
    return _wall_at(instant_s, _offset_s(instant_s, tz))


def _wall_at(instant_s: int, offset_s: int) -> datetime:
    return _EPOCH_WALL + timedelta(seconds=instant_s + offset_s)


def _wall_seconds(wall: datetime) -> int:
    return (wall - _EPOCH_WALL) // _ONE_SECOND


def _timedelta_s(offset: timedelta | None) -> int:
    if offset is None:
        raise InvalidInput("the time zone gives no UTC offset")
    return offset // _ONE_SECOND
