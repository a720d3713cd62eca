"""Cron parsing, matching and next fire times, with the daylight-saving rules spelled out."""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest

from rota.errors import InvalidInput
from rota.scheduling.cron import CronExpression, fire_times, next_fire_at

BERLIN = ZoneInfo("Europe/Berlin")
NEW_YORK = ZoneInfo("America/New_York")
LORD_HOWE = ZoneInfo("Australia/Lord_Howe")


def fields(text: str) -> tuple[tuple[int, ...], ...]:
    expr = CronExpression.parse(text)
    return (
        expr.seconds,
        expr.minutes,
        expr.hours,
        expr.days_of_month,
        expr.months,
        expr.days_of_week,
    )


def local_fires(text: str, after: datetime, tz: ZoneInfo, count: int) -> list[str]:
    """Return the next fire times as local "MM-DD HH:MM+HHMM" (the offset tells the pass)."""
    times = fire_times(CronExpression.parse(text), after, tz, count)
    return [moment.astimezone(tz).strftime("%m-%d %H:%M%z") for moment in times]


ALL_MINUTES = tuple(range(60))
ALL_HOURS = tuple(range(24))
ALL_DAYS = tuple(range(1, 32))
ALL_MONTHS = tuple(range(1, 13))
ALL_WEEKDAYS = tuple(range(7))


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("* * * * *", ((0,), ALL_MINUTES, ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("5 4 3 2 1", ((0,), (5,), (4,), (3,), (2,), (1,))),
        ("1,2,5 * * * *", ((0,), (1, 2, 5), ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("0 9-12 * * *", ((0,), (0,), (9, 10, 11, 12), ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("*/20 * * * *", ((0,), (0, 20, 40), ALL_HOURS, ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("0 8-18/4 * * *", ((0,), (0,), (8, 12, 16), ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("50/4 0 * * *", ((0,), (50, 54, 58), (0,), ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("0 0 */10 * *", ((0,), (0,), (0,), (1, 11, 21, 31), ALL_MONTHS, ALL_WEEKDAYS)),
        ("0 0 1 */5 *", ((0,), (0,), (0,), (1,), (1, 6, 11), ALL_WEEKDAYS)),
        ("0 0 1 jan,Mar,DEC *", ((0,), (0,), (0,), (1,), (1, 3, 12), ALL_WEEKDAYS)),
        ("0 0 1 feb-apr/2 *", ((0,), (0,), (0,), (1,), (2, 4), ALL_WEEKDAYS)),
        ("0 0 * * mon-fri", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (1, 2, 3, 4, 5))),
        ("0 0 * * SAT,sun", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0, 6))),
        ("0 0 * * 7", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0,))),
        ("0 0 * * 0,7", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0,))),
        ("0 0 * * 5-7", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0, 5, 6))),
        ("0 0 * * 1/3", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0, 1, 4))),
        ("0 0 * * sat-sun", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0, 6))),
        ("0 0 * * mon-sun", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("0 0 * * sun-tue", ((0,), (0,), (0,), ALL_DAYS, ALL_MONTHS, (0, 1, 2))),
        ("*/15 0 0 * * *", ((0, 15, 30, 45), (0,), (0,), ALL_DAYS, ALL_MONTHS, ALL_WEEKDAYS)),
        ("  07  1\t2 3 4  ", ((0,), (7,), (1,), (2,), (3,), (4,))),
    ],
)
def test_parse_fields(text: str, expected: tuple[tuple[int, ...], ...]) -> None:
    assert fields(text) == expected


@pytest.mark.parametrize(
    ("alias", "same_as"),
    [
        ("@hourly", "0 * * * *"),
        ("@daily", "0 0 * * *"),
        ("@midnight", "0 0 * * *"),
        ("@weekly", "0 0 * * 0"),
        ("@monthly", "0 0 1 * *"),
        ("@yearly", "0 0 1 1 *"),
        ("@annually", "0 0 1 1 *"),
        ("@DAILY", "0 0 * * *"),
    ],
)
def test_aliases(alias: str, same_as: str) -> None:
    expr = CronExpression.parse(alias)
    assert expr.text == alias
    assert fields(alias) == fields(same_as)
    assert expr.is_fixed_time == CronExpression.parse(same_as).is_fixed_time


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "cron expression is empty"),
        ("   ", "cron expression is empty"),
        ("* * * *", "must have 5 fields (minute hour day-of-month month day-of-week) or 6"),
        ("* * * * * * *", "got 7 in '* * * * * * *'"),
        ("@reboot", "unknown cron alias '@reboot'"),
        ("60 * * * *", "cron field 1 (minute) value 60 is out of range 0-59"),
        ("0 24 * * *", "cron field 2 (hour) value 24 is out of range 0-23"),
        ("0 0 0 * *", "cron field 3 (day-of-month) value 0 is out of range 1-31"),
        ("0 0 32 * *", "cron field 3 (day-of-month) value 32 is out of range 1-31"),
        ("0 0 * 13 *", "cron field 4 (month) value 13 is out of range 1-12"),
        ("0 0 * 0 *", "cron field 4 (month) value 0 is out of range 1-12"),
        ("0 0 * * 8", "cron field 5 (day-of-week) value 8 is out of range 0-7"),
        ("60 0 0 * * *", "cron field 1 (second) value 60 is out of range 0-59"),
        ("0 60 0 * * *", "cron field 2 (minute) value 60 is out of range 0-59"),
        ("0 0 24 * * *", "cron field 3 (hour) value 24 is out of range 0-23"),
        ("0 0 * foo *", "cron field 4 (month) value 'foo' is not a month name"),
        ("0 0 * * funday", "cron field 5 (day-of-week) value 'funday' is not a day name"),
        ("0 0 * * monday", "cron field 5 (day-of-week) value 'monday' is not a day name"),
        ("jan 0 * * *", "cron field 1 (minute) value 'jan' is not a number"),
        ("0 0 mon * *", "cron field 3 (day-of-month) value 'mon' is not a number"),
        ("0 0 * * 1.5", "cron field 5 (day-of-week) value '1.5' is not a number or a name"),
        ("-1 * * * *", "cron field 1 (minute) range '-1' is missing a value"),
        ("5- * * * *", "cron field 1 (minute) range '5-' is missing a value"),
        ("1,,2 * * * *", "cron field 1 (minute) '1,,2' has an empty list item"),
        ("1, * * * *", "cron field 1 (minute) '1,' has an empty list item"),
        ("0 5-3 * * *", "cron field 2 (hour) range '5-3' is backwards"),
        ("0 0 * * fri-mon", "cron field 5 (day-of-week) range 'fri-mon' is backwards"),
        ("0 0 * * 6-0", "cron field 5 (day-of-week) range '6-0' is backwards"),
        ("*/0 * * * *", "cron field 1 (minute) step 0 is out of range 1-60"),
        ("0 */25 * * *", "cron field 2 (hour) step 25 is out of range 1-24"),
        ("*/x * * * *", "cron field 1 (minute) step 'x' is not a whole number"),
        ("*/ * * * *", "cron field 1 (minute) step '' is not a whole number"),
        ("*/2/3 * * * *", "cron field 1 (minute) has more than one '/' in one item"),
        ("*-5 * * * *", "cron field 1 (minute) value '*' is not a number"),
        ("1-2-3 * * * *", "cron field 1 (minute) value '2-3' is not a number"),
        ("0 0 ? * *", "cron field 3 (day-of-month) value '?' is not a number"),
        ("0 0 L * *", "cron field 3 (day-of-month) value 'L' is not a number"),
        ("0 0 * * 1#2", "cron field 5 (day-of-week) value '1#2' is not a number or a name"),
        ("\u00b9 * * * *", "cron field 1 (minute) value '\u00b9' is not a number"),
        ("+1 * * * *", "cron field 1 (minute) value '+1' is not a number"),
    ],
)
def test_parse_errors_name_the_field_and_the_reason(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        CronExpression.parse(text)
    assert message in str(caught.value)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1" * 4301 + " * * * *", "is longer than 1000 characters"),
        ("0" * 900 + "60 * * * *", "value '0000000000000000000000000000000000000000…' (902"),
        (
            "1" * 900 + " * * * *",
            "value '1111111111111111111111111111111111111111…' (900 characters)",
        ),
        ("*/" + "7" * 900 + " * * * *", "step '777777"),
        (
            "0 0 * * " + "x" * 900,
            "value 'xxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxxx…' (900 characters)",
        ),
        ("@" + "y" * 900, "unknown cron alias '@yyyy"),
        ("* " * 400, "got 400 in '* * * *"),
    ],
)
def test_long_input_is_refused_with_a_short_excerpt(text: str, message: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        CronExpression.parse(text)
    assert message in str(caught.value)
    assert len(str(caught.value)) < 250


def test_leading_zeros_do_not_count_against_a_number() -> None:
    assert CronExpression.parse("0" * 900 + "7 * * * *").minutes == (7,)


@pytest.mark.parametrize(
    ("text", "fixed"),
    [
        ("30 2 * * *", True),
        ("0,30 1-3 * * *", True),
        ("0 0 1 1 *", True),
        ("*/10 30 2 * * *", True),
        ("0 * * * *", False),
        ("*/15 * * * *", False),
        ("*/15 2 * * *", False),
        ("0 */2 * * *", False),
        ("* * * * *", False),
    ],
)
def test_is_fixed_time_means_minute_and_hour_without_a_leading_star(text: str, fixed: bool) -> None:
    assert CronExpression.parse(text).is_fixed_time is fixed


def test_either_restricted_day_field_may_match() -> None:
    # The 13th or any Friday.
    expr = CronExpression.parse("0 0 13 * fri")
    assert expr.matches_day(date(2024, 9, 13))  # a Friday the 13th
    assert expr.matches_day(date(2024, 8, 13))  # a Tuesday
    assert expr.matches_day(date(2024, 8, 16))  # a Friday
    assert not expr.matches_day(date(2024, 8, 14))


def test_a_day_field_starting_with_star_makes_both_day_fields_required() -> None:
    # Vixie cron: `*/2` counts as unrestricted, so odd days that are also Mondays.
    expr = CronExpression.parse("0 0 */2 * mon")
    assert expr.matches_day(date(2024, 7, 1))  # Monday the 1st
    assert not expr.matches_day(date(2024, 7, 8))  # Monday the 8th
    assert not expr.matches_day(date(2024, 7, 3))  # Wednesday the 3rd
    # The same days written without the star are "odd days, or Mondays".
    listed = CronExpression.parse("0 0 1-31/2 * mon")
    assert listed.matches_day(date(2024, 7, 8))
    assert listed.matches_day(date(2024, 7, 3))


def test_a_plain_star_day_field_leaves_the_other_in_charge() -> None:
    assert CronExpression.parse("0 0 * * mon").matches_day(date(2024, 7, 8))
    assert not CronExpression.parse("0 0 * * mon").matches_day(date(2024, 7, 9))
    assert CronExpression.parse("0 0 9 * *").matches_day(date(2024, 7, 9))
    assert not CronExpression.parse("0 0 9 * *").matches_day(date(2024, 7, 8))


def test_seconds_field_fires_on_the_second() -> None:
    after = datetime(2024, 5, 1, 12, 0, 0, tzinfo=UTC)
    expr = CronExpression.parse("*/20 * * * * *")
    assert [moment.second for moment in fire_times(expr, after, UTC, 4)] == [20, 40, 0, 20]
    assert CronExpression.parse("30 * * * *").seconds == (0,)


def test_next_fire_is_strictly_after_and_handles_fractions_of_a_second() -> None:
    expr = CronExpression.parse("0 12 * * *")
    noon = datetime(2024, 5, 1, 12, tzinfo=UTC)
    assert next_fire_at(expr, noon, UTC) == noon + timedelta(days=1)
    assert next_fire_at(expr, noon - timedelta(microseconds=1), UTC) == noon
    assert next_fire_at(expr, noon + timedelta(microseconds=1), UTC) == noon + timedelta(days=1)


def test_result_is_utc_whatever_zone_after_is_in() -> None:
    expr = CronExpression.parse("0 9 * * *")
    after = datetime(2024, 5, 1, 12, tzinfo=timezone(timedelta(hours=5)))
    fire_at = next_fire_at(expr, after, BERLIN)
    assert fire_at.tzinfo is UTC
    assert fire_at == datetime(2024, 5, 2, 7, tzinfo=UTC)


def test_far_matches_are_found_and_impossible_ones_are_reported() -> None:
    after = datetime(2024, 3, 1, tzinfo=UTC)
    leap = next_fire_at(CronExpression.parse("0 0 29 2 *"), after, UTC)
    assert leap == datetime(2028, 2, 29, tzinfo=UTC)
    # February 29th that is a Sunday: 2032, then 2060.
    sunday = CronExpression.parse("0 0 29 2 */7")
    assert fire_times(sunday, after, UTC, 2) == [
        datetime(2032, 2, 29, tzinfo=UTC),
        datetime(2060, 2, 29, tzinfo=UTC),
    ]
    with pytest.raises(InvalidInput, match="'0 0 30 2 \\*' never fires"):
        next_fire_at(CronExpression.parse("0 0 30 2 *"), after, UTC)
    with pytest.raises(InvalidInput, match="never fires"):
        next_fire_at(CronExpression.parse("0 0 31 4,6,9,11 *"), after, BERLIN)


def test_naive_after_is_refused() -> None:
    with pytest.raises(InvalidInput, match="aware"):
        next_fire_at(CronExpression.parse("* * * * *"), datetime(2024, 1, 1), UTC)


def test_fire_times_count() -> None:
    expr = CronExpression.parse("@hourly")
    after = datetime(2024, 1, 1, tzinfo=UTC)
    assert fire_times(expr, after, UTC, 0) == []
    assert len(fire_times(expr, after, UTC, 3)) == 3
    with pytest.raises(InvalidInput):
        fire_times(expr, after, UTC, -1)


# Daylight saving. Europe/Berlin 2024: 02:00 CET -> 03:00 CEST on 31 March, 03:00 CEST ->
# 02:00 CET on 27 October. America/New_York 2024: 02:00 -> 03:00 on 10 March, 02:00 -> 01:00
# on 3 November. Australia/Lord_Howe (a 30-minute shift) 2024: 02:00 -> 01:30 on 7 April,
# 02:00 -> 02:30 on 6 October.

DST_CASES = [
    # Fixed time in the skipped gap: once, when the gap ends.
    ("30 2 * * *", BERLIN, datetime(2024, 3, 30, 12), "03-31 03:00+0200, 04-01 02:30+0200"),
    ("0,30 2 * * *", BERLIN, datetime(2024, 3, 31, 0), "03-31 03:00+0200, 04-01 02:00+0200"),
    ("30 2 * * *", NEW_YORK, datetime(2024, 3, 9, 12), "03-10 03:00-0400, 03-11 02:30-0400"),
    ("15 2 * * *", LORD_HOWE, datetime(2024, 10, 5, 12), "10-06 02:30+1100, 10-07 02:15+1100"),
    # Fixed time in the repeated hour: once, in the first pass.
    ("30 2 * * *", BERLIN, datetime(2024, 10, 26, 12), "10-27 02:30+0200, 10-28 02:30+0100"),
    ("30 1 * * *", NEW_YORK, datetime(2024, 11, 2, 12), "11-03 01:30-0400, 11-04 01:30-0500"),
    ("45 1 * * *", LORD_HOWE, datetime(2024, 4, 6, 12), "04-07 01:45+1100, 04-08 01:45+1030"),
    # Wildcard: nothing in the gap...
    ("30 * * * *", BERLIN, datetime(2024, 3, 31, 1), "03-31 01:30+0100, 03-31 03:30+0200"),
    ("*/20 2 * * *", BERLIN, datetime(2024, 3, 31, 0), "04-01 02:00+0200"),
    ("30 * * * *", NEW_YORK, datetime(2024, 3, 10, 1), "03-10 01:30-0500, 03-10 03:30-0400"),
    ("15 * * * *", LORD_HOWE, datetime(2024, 10, 6, 1), "10-06 01:15+1030, 10-06 03:15+1100"),
    # ...and both passes of a repeated hour.
    (
        "30 * * * *",
        BERLIN,
        datetime(2024, 10, 27, 2),
        "10-27 02:30+0200, 10-27 02:30+0100, 10-27 03:30+0100",
    ),
    (
        "30 * * * *",
        NEW_YORK,
        datetime(2024, 11, 3, 1),
        "11-03 01:30-0400, 11-03 01:30-0500, 11-03 02:30-0500",
    ),
    (
        "45 * * * *",
        LORD_HOWE,
        datetime(2024, 4, 7, 1),
        "04-07 01:45+1100, 04-07 01:45+1030, 04-07 02:45+1030",
    ),
    # Hourly across both changes.
    (
        "0 * * * *",
        BERLIN,
        datetime(2024, 3, 31, 0, 30),
        "03-31 01:00+0100, 03-31 03:00+0200, 03-31 04:00+0200",
    ),
    (
        "0 * * * *",
        BERLIN,
        datetime(2024, 10, 27, 0, 30),
        "10-27 01:00+0200, 10-27 02:00+0200, 10-27 02:00+0100, 10-27 03:00+0100, 10-27 04:00+0100",
    ),
    (
        "@hourly",
        NEW_YORK,
        datetime(2024, 3, 10, 0, 30),
        "03-10 01:00-0500, 03-10 03:00-0400, 03-10 04:00-0400",
    ),
    (
        "@hourly",
        NEW_YORK,
        datetime(2024, 11, 3, 0, 30),
        "11-03 01:00-0400, 11-03 01:00-0500, 11-03 02:00-0500, 11-03 03:00-0500",
    ),
    (
        "0 * * * *",
        LORD_HOWE,
        datetime(2024, 10, 6, 0, 30),
        "10-06 01:00+1030, 10-06 03:00+1100, 10-06 04:00+1100",
    ),
    (
        "0 * * * *",
        LORD_HOWE,
        datetime(2024, 4, 7, 0, 30),
        "04-07 01:00+1100, 04-07 02:00+1030, 04-07 03:00+1030",
    ),
]


@pytest.mark.parametrize(("text", "tz", "after", "expected"), DST_CASES)
def test_daylight_saving_rules(text: str, tz: ZoneInfo, after: datetime, expected: str) -> None:
    times = expected.split(", ")
    assert local_fires(text, after.replace(tzinfo=tz), tz, len(times)) == times


@pytest.mark.parametrize(
    ("tz", "spring_day", "autumn_day"),
    [
        (BERLIN, (2024, 3, 31), (2024, 10, 27)),
        (NEW_YORK, (2024, 3, 10), (2024, 11, 3)),
        (LORD_HOWE, (2024, 10, 6), (2024, 4, 7)),
    ],
)
def test_every_15_minutes_stays_every_15_minutes_of_real_time(
    tz: ZoneInfo, spring_day: tuple[int, int, int], autumn_day: tuple[int, int, int]
) -> None:
    expr = CronExpression.parse("*/15 * * * *")
    for day in (spring_day, autumn_day):
        start = datetime(*day, tzinfo=tz) - timedelta(minutes=1)
        times = fire_times(expr, start, tz, 24 * 4 + 8)
        assert {later - earlier for earlier, later in pairwise(times)} == {timedelta(minutes=15)}
        # Every fire time is on a quarter hour of local wall time.
        assert {moment.astimezone(tz).minute for moment in times} == {0, 15, 30, 45}


def test_every_15_minutes_fires_8_times_in_berlins_repeated_hour() -> None:
    expr = CronExpression.parse("*/15 * * * *")
    start = datetime(2024, 10, 27, 1, 59, tzinfo=BERLIN)
    in_hour = [
        moment
        for moment in fire_times(expr, start, BERLIN, 12)
        if moment.astimezone(BERLIN).hour == 2
    ]
    assert len(in_hour) == 8
    assert [moment.astimezone(BERLIN).utcoffset() for moment in in_hour] == [
        timedelta(hours=2)
    ] * 4 + [timedelta(hours=1)] * 4


def test_fixed_time_fires_exactly_once_on_each_change_day() -> None:
    for text, tz, day in [
        ("30 2 * * *", BERLIN, (2024, 3, 31)),
        ("30 2 * * *", BERLIN, (2024, 10, 27)),
        ("30 1 * * *", NEW_YORK, (2024, 11, 3)),
        ("15 2 * * *", LORD_HOWE, (2024, 10, 6)),
        ("45 1 * * *", LORD_HOWE, (2024, 4, 7)),
    ]:
        change_day = date(*day)
        start = datetime(*day, tzinfo=tz) - timedelta(days=1)
        times = fire_times(CronExpression.parse(text), start, tz, 3)
        assert [moment.astimezone(tz).date() - change_day for moment in times] == [
            timedelta(days=-1),
            timedelta(days=0),
            timedelta(days=1),
        ], text


def test_a_whole_skipped_hour_of_a_wildcard_schedule_fires_nothing() -> None:
    expr = CronExpression.parse("*/10 2 * * *")
    start = datetime(2024, 3, 30, 3, tzinfo=BERLIN)
    times = [moment.astimezone(BERLIN) for moment in fire_times(expr, start, BERLIN, 7)]
    assert [moment.date() for moment in times] == [date(2024, 4, 1)] * 6 + [date(2024, 4, 2)]


def test_midnight_skipped_by_the_clock_fires_at_the_gap_end() -> None:
    # America/Santiago springs forward from 00:00 to 01:00 (2024-09-08).
    santiago = ZoneInfo("America/Santiago")
    times = local_fires("@daily", datetime(2024, 9, 7, 12, tzinfo=santiago), santiago, 2)
    assert times == ["09-08 01:00-0300", "09-09 00:00-0300"]
