"""Property tests: next_fire_at against croniter, and against a brute-force reference for DST.

croniter is an independent implementation; where its reading of the syntax differs from ours
(documented in docs/schedules.md), the generated expressions stay clear of the difference:

- croniter's default applies the either-day-field rule even when a field starts with `*`;
  `implement_cron_bug=True` switches on Vixie cron's rule, which is ours.
- croniter reads an equal range such as `5-5` or `jan-jan` as the whole field; we read it as
  the one value. Generated ranges have start < end.
- In day-of-week, croniter reads `a/n` as `a-6/n`; we read it as `a-7/n` like cronie (the
  field runs to 7), so `1/2` includes Sunday for us. Generated day-of-week `a/n` never
  reaches 7.
- croniter lets a `*` anywhere in a day field's list (`1,*` or `1,*/4`) lift it out of the
  either-day-field rule; Vixie cron and we look only at the field's first character.
  Generated day fields have `*` only in their first item.
- croniter accepts backwards ranges (`fri-mon`, wrapping round); we reject them.
- croniter's own daylight-saving handling is not the documented rule, so it is compared only
  where no offset change lies within a day of the search; elsewhere a brute-force scan of
  every minute applies the rule as docs/schedules.md states it.
"""

from __future__ import annotations

from bisect import bisect_right
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta, timezone
from functools import cache
from itertools import pairwise
from zoneinfo import ZoneInfo

from croniter import CroniterBadDateError, croniter  # type: ignore[import-untyped]
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rota.errors import InvalidInput
from rota.scheduling.cron import CronExpression, fire_times, next_fire_at

ZONES = [
    "Asia/Kolkata",
    "America/New_York",
    "Europe/Berlin",
    "Australia/Lord_Howe",
    "Pacific/Chatham",
]
MONTHS = ["jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"]
DAYS = ["sun", "mon", "tue", "wed", "thu", "fri", "sat", "sun"]
ALIASES = {
    "@hourly": "0 * * * *",
    "@daily": "0 0 * * *",
    "@midnight": "0 0 * * *",
    "@weekly": "0 0 * * 0",
    "@monthly": "0 0 1 * *",
    "@yearly": "0 0 1 1 *",
    "@annually": "0 0 1 1 *",
}
EARLIEST = datetime(2000, 1, 1, tzinfo=UTC)
LATEST = datetime(2040, 1, 1, tzinfo=UTC)


def examples(count: int) -> settings:
    """Settings for a property test: `count` examples, no example database on disk."""
    return settings(
        max_examples=count,
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow],
    )


# --- expressions -----------------------------------------------------------------------


@st.composite
def spelled(draw: st.DrawFn, value: int, names: list[str] | None) -> str:
    """Write a value as a number or, where the field has names, a name in any case."""
    if names is not None and draw(st.booleans()):
        low = 1 if names is MONTHS else 0
        name = names[value - low]
        return draw(st.sampled_from([name, name.upper(), name.capitalize()]))
    return str(value)


@st.composite
def item(
    draw: st.DrawFn, low: int, high: int, names: list[str] | None = None, star: bool = True
) -> str:
    """One list item: `*`, `*/n`, `a`, `a-b`, `a-b/n` or `a/n` (no `*` unless `star`)."""
    step = st.integers(1, high - low + 1)
    kinds = ["value", "range", "range_step", "a_step"] + (["star", "star_step"] if star else [])
    kind = draw(st.sampled_from(kinds))
    if kind == "star":
        return "*"
    if kind == "star_step":
        return f"*/{draw(step)}"
    if kind == "value":
        return draw(spelled(draw(st.integers(low, high)), names))
    if kind == "a_step":
        start, every = draw(st.integers(low, high)), draw(step)
        if names is DAYS:
            # croniter stops day-of-week `a/n` at 6 (see the module docstring): keep off 7.
            start = min(start, 6)
            while (7 - start) % every == 0:
                every += 1
        return f"{draw(spelled(start, names))}/{every}"
    start = draw(st.integers(low, high - 1))
    end = draw(st.integers(start + 1, high))
    text = f"{draw(spelled(start, names))}-{draw(spelled(end, names))}"
    return f"{text}/{draw(step)}" if kind == "range_step" else text


def field(low: int, high: int, names: list[str] | None = None) -> st.SearchStrategy[str]:
    """A field: a comma-separated list of 1 to 3 items, or often just `*`."""
    lists = st.lists(item(low, high, names), min_size=1, max_size=3)
    if (low == 1 and high == 31) or names is DAYS:
        # croniter lets a `*` anywhere in a day field's list lift it out of the either-day
        # rule (`1,*/4`); Vixie cron and we look only at the first character.
        lists = lists.filter(lambda items: not any("*" in later for later in items[1:]))
    return st.one_of(st.just("*"), lists.map(",".join))


@st.composite
def expressions(draw: st.DrawFn, near_dst: bool = False) -> str:
    """A random valid expression; near_dst keeps days and months open so it fires often."""
    if draw(st.integers(0, 19)) == 0:
        return draw(st.sampled_from(sorted(ALIASES)))
    minute, hour = draw(field(0, 59)), draw(field(0, 23))
    if near_dst and draw(st.booleans()):
        # A fixed-time expression at the hours transitions happen in (00:00 to 04:00).
        fixed_items = st.lists(item(0, 59, star=False), min_size=1, max_size=3)
        minute = ",".join(draw(fixed_items))
        hour = ",".join(draw(st.lists(item(0, 4, star=False), min_size=1, max_size=2)))
    elif near_dst:
        hour = draw(st.one_of(field(0, 23), item(0, 4)))
    if near_dst:
        dom, month = draw(st.sampled_from(["*", "*/2", "1-31/3", "*/1"])), "*"
        dow = draw(st.one_of(st.just("*"), field(0, 7, DAYS)))
    else:
        dom, month, dow = draw(field(1, 31)), draw(field(1, 12, MONTHS)), draw(field(0, 7, DAYS))
    parts = [minute, hour, dom, month, dow]
    if draw(st.integers(0, 3)) == 0:
        parts.insert(0, draw(field(0, 59)))
    return " ".join(parts)


instants = st.datetimes(
    min_value=EARLIEST.replace(tzinfo=None), max_value=LATEST.replace(tzinfo=None)
).map(lambda moment: moment.replace(tzinfo=UTC))

# --- croniter as the reference ---------------------------------------------------------


def croniter_times(text: str, after: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    """Return croniter's next fire times; fewer if it finds none within 50 years."""
    moments = croniter(
        text, after.astimezone(tz), implement_cron_bug=True, second_at_beginning=True
    )
    found: list[datetime] = []
    try:
        while len(found) < count:
            found.append(moments.get_next(datetime).astimezone(UTC))
    except CroniterBadDateError:
        pass
    return found


def our_times(text: str, after: datetime, tz: ZoneInfo, count: int) -> list[datetime]:
    """Return our next fire times; fewer if the expression stops firing."""
    expr = CronExpression.parse(text)
    found: list[datetime] = []
    try:
        while len(found) < count:
            found.append(next_fire_at(expr, found[-1] if found else after, tz))
    except InvalidInput:
        pass
    return found


FIFTY_YEARS = timedelta(days=365 * 50 - 1)


@cache
def transitions(zone: str) -> list[datetime]:
    """Return every instant the zone's UTC offset changes, 1999 to 2041 (daily probes)."""
    tz = ZoneInfo(zone)
    found: list[datetime] = []
    low = datetime(1999, 1, 1, tzinfo=UTC)
    while low < datetime(2041, 1, 1, tzinfo=UTC):
        high = low + timedelta(days=1)
        if low.astimezone(tz).utcoffset() != high.astimezone(tz).utcoffset():
            left, right = int(low.timestamp()), int(high.timestamp())
            while right - left > 1:
                middle = (left + right) // 2
                moment = datetime.fromtimestamp(middle, UTC)
                if moment.astimezone(tz).utcoffset() == low.astimezone(tz).utcoffset():
                    left = middle
                else:
                    right = middle
            found.append(datetime.fromtimestamp(right, UTC))
        low = high
    return found


def near_a_transition(zone: str, start: datetime, end: datetime) -> bool:
    """Return whether an offset change lies within a day either side of [start, end]."""
    changes = transitions(zone)
    margin = timedelta(days=1)
    index = bisect_right(changes, start - margin)
    return index < len(changes) and changes[index] <= end + margin


@given(text=expressions(), after=instants, fraction_us=st.sampled_from([0, 1, 999_999]))
@examples(500)
def test_matches_croniter_in_utc(text: str, after: datetime, fraction_us: int) -> None:
    after = after.replace(microsecond=fraction_us)
    expected = croniter_times(text, after, ZoneInfo("UTC"), 3)
    found = our_times(text, after, ZoneInfo("UTC"), 3)
    assert found[: len(expected)] == expected, text
    if len(found) > len(expected):
        # croniter gives up after 50 years without a match; we search 400 years.
        assert found[len(expected)] > (expected[-1] if expected else after) + FIFTY_YEARS


@given(text=expressions(), after=instants, zone=st.sampled_from(ZONES))
@examples(450)
def test_matches_croniter_away_from_offset_changes(text: str, after: datetime, zone: str) -> None:
    tz = ZoneInfo(zone)
    found = our_times(text, after, tz, 3)
    expected = croniter_times(text, after, tz, 3)
    for ours, theirs in zip(found, expected, strict=False):
        if near_a_transition(zone, after, max(ours, theirs)):
            return  # daylight saving: checked against the brute-force reference below
        assert ours == theirs, (text, after.astimezone(tz))
    if len(found) > len(expected):
        assert found[len(expected)] > (expected[-1] if expected else after) + FIFTY_YEARS
    else:
        assert len(found) == len(expected), text


# --- brute force as the reference around offset changes --------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Reference:
    """The allowed values per field as croniter expands them, plus the documented rules."""

    seconds: frozenset[int]
    minutes: frozenset[int]
    hours: frozenset[int]
    days_of_month: frozenset[int]
    months: frozenset[int]
    days_of_week: frozenset[int]
    day_of_month_star: bool
    day_of_week_star: bool
    fixed_time: bool

    @classmethod
    def of(cls, text: str) -> Reference:
        source = ALIASES.get(text, text).split()
        expanded = croniter.expand(" ".join(source), second_at_beginning=True)[0]

        def values(index: int, low: int, high: int) -> frozenset[int]:
            got = expanded[index]
            return frozenset(range(low, high + 1)) if "*" in got else frozenset(got)

        minute, hour, dom, _, dow = source[-5:]
        return cls(
            seconds=values(5, 0, 59) if len(source) == 6 else frozenset({0}),
            minutes=values(0, 0, 59),
            hours=values(1, 0, 23),
            days_of_month=values(2, 1, 31),
            months=values(3, 1, 12),
            days_of_week=frozenset(day % 7 for day in values(4, 0, 6)),
            day_of_month_star=dom.startswith("*"),
            day_of_week_star=dow.startswith("*"),
            fixed_time=not minute.startswith("*") and not hour.startswith("*"),
        )

    def matches_minute(self, wall: datetime) -> bool:
        in_month = wall.day in self.days_of_month
        in_week = wall.isoweekday() % 7 in self.days_of_week
        either = self.day_of_month_star or self.day_of_week_star
        day = (in_month and in_week) if either else (in_month or in_week)
        return (
            day and wall.month in self.months and wall.hour in self.hours
            and wall.minute in self.minutes
        )  # fmt: skip


def minutes_between(start: datetime, end: datetime) -> list[datetime]:
    start = start.replace(second=0, microsecond=0)
    return [start + timedelta(minutes=k) for k in range(int((end - start) / timedelta(minutes=1)))]


def brute_elapsed(ref: Reference, after: datetime, tz: ZoneInfo, end: datetime) -> datetime | None:
    """Scan every minute of real time: fire wherever the local wall clock matches."""
    for minute in minutes_between(after, end):
        if ref.matches_minute(minute.astimezone(tz).replace(tzinfo=None)):
            for second in sorted(ref.seconds):
                if (moment := minute + timedelta(seconds=second)) > after:
                    return moment
    return None


def brute_fixed(ref: Reference, after: datetime, tz: ZoneInfo, end: datetime) -> datetime | None:
    """Scan every minute of wall time: a repeated one fires in its first pass only, a
    skipped one when the clock jumps over it."""
    timeline = [
        (moment, moment.astimezone(tz).replace(tzinfo=None))
        for moment in minutes_between(after - timedelta(days=1), end + timedelta(days=1))
    ]
    first_pass: dict[datetime, datetime] = {}
    for moment, wall in timeline:
        first_pass.setdefault(wall, moment)
    best: datetime | None = None
    walls = minutes_between(timeline[0][1], timeline[-1][1])
    for wall in (wall for wall in walls if ref.matches_minute(wall)):
        if wall in first_pass:
            moments = [first_pass[wall] + timedelta(seconds=s) for s in sorted(ref.seconds)]
        else:
            moments = [
                moment for (_, before), (moment, now) in pairwise(timeline) if before < wall < now
            ]
        later = [moment for moment in moments if moment > after]
        if later and (best is None or later[0] < best):
            best = later[0]
    return best if best is not None and best <= end else None


@given(
    text=expressions(near_dst=True),
    zone=st.sampled_from(ZONES[1:]),
    pick=st.integers(0, 10_000),
    shift_min=st.one_of(st.integers(-180, 60), st.integers(-30 * 60, 6 * 60)),
    fraction_us=st.sampled_from([0, 0, 500_000]),
)
@examples(200)
def test_matches_brute_force_around_offset_changes(
    text: str, zone: str, pick: int, shift_min: int, fraction_us: int
) -> None:
    tz = ZoneInfo(zone)
    changes = [moment for moment in transitions(zone) if EARLIEST <= moment < LATEST]
    after = changes[pick % len(changes)] + timedelta(minutes=shift_min, microseconds=fraction_us)
    ref = Reference.of(text)
    end = after + timedelta(days=2)
    brute = brute_fixed if ref.fixed_time else brute_elapsed
    expected = brute(ref, after, tz, end)
    found = next_fire_at(CronExpression.parse(text), after, tz)
    if expected is None:
        assert found > end, (text, after.astimezone(tz), found.astimezone(tz))
    else:
        assert found == expected, (text, after.astimezone(tz), found.astimezone(tz))


@given(text=expressions(near_dst=True), zone=st.sampled_from(ZONES), after=instants)
@examples(150)
def test_fire_times_increase_and_fall_on_matching_wall_times(
    text: str, zone: str, after: datetime
) -> None:
    tz = ZoneInfo(zone)
    expr = CronExpression.parse(text)
    times = fire_times(expr, after, tz, 5)
    assert times == sorted(set(times))
    assert times[0] > after
    for moment in times:
        assert moment.tzinfo is UTC and moment.microsecond == 0
        wall = moment.astimezone(tz).replace(tzinfo=None)
        # A fixed-time fire may be moved to the end of a gap; any other is a matching time.
        assert expr.matches(wall) or (expr.is_fixed_time and wall.minute % 15 == 0)


@given(
    zone=st.sampled_from(ZONES[1:]),
    pick=st.integers(0, 10_000),
    place=st.floats(0, 1, exclude_max=True),
    lead_min=st.integers(1, 20 * 60),
    with_seconds=st.booleans(),
)
@examples(300)
def test_fixed_times_the_clock_skips_or_repeats_fire_once(
    zone: str, pick: int, place: float, lead_min: int, with_seconds: bool
) -> None:
    tz = ZoneInfo(zone)
    changes = [moment for moment in transitions(zone) if EARLIEST <= moment < LATEST]
    change = changes[pick % len(changes)]
    before = (change - timedelta(seconds=1)).astimezone(tz).utcoffset()
    after_change = change.astimezone(tz).utcoffset()
    assert before is not None and after_change is not None
    # The wall times the change skips or repeats: [change + smaller, change + larger).
    span_min = abs(int((after_change - before) / timedelta(minutes=1)))
    first_wall = (change + min(before, after_change)).replace(tzinfo=None)
    wall = first_wall + timedelta(minutes=int(place * span_min))
    text = f"{wall.minute} {wall.hour} * * *"
    if with_seconds:
        text = f"0,30 {text}"
    # Start before the first pass of a repeat (which runs up to the change), or the gap.
    after = change - timedelta(minutes=lead_min + (span_min if after_change < before else 0))
    times = fire_times(CronExpression.parse(text), after, tz, 3 if with_seconds else 2)
    walls = [moment.astimezone(tz).replace(tzinfo=None) for moment in times]
    tomorrow = wall + timedelta(days=1)
    if after_change > before:
        # Skipped: once, when the gap ends (both seconds collapse onto it), then tomorrow.
        assert times[0] == change, text
        assert walls[1:] == [tomorrow, tomorrow + timedelta(seconds=30)][: len(walls) - 1]
    else:
        # Repeated: once, in the first pass (both seconds), then tomorrow.
        first_pass = wall.replace(tzinfo=timezone(before)).astimezone(UTC)
        expected = (
            [first_pass, first_pass + timedelta(seconds=30)] if with_seconds else [first_pass]
        )
        assert times[: len(expected)] == expected, text
        assert walls[-1] == tomorrow
