"""Triggers: cron in a zone with a window, fixed intervals of elapsed time, one-off."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone
from zoneinfo import ZoneInfo

import pytest

from rota.errors import InvalidInput
from rota.moments import LATEST_AT
from rota.scheduling import (
    CronExpression,
    CronTrigger,
    IntervalTrigger,
    OnceTrigger,
    Trigger,
    parse_timezone,
)

BERLIN = ZoneInfo("Europe/Berlin")


def upcoming(trigger: Trigger, after: datetime, count: int) -> list[datetime]:
    """Return up to `count` fire times, stopping when the trigger is done."""
    times: list[datetime] = []
    moment: datetime | None = after
    while moment is not None and len(times) < count:
        moment = trigger.next_after(moment)
        if moment is not None:
            times.append(moment)
    return times


def test_parse_timezone_accepts_iana_names() -> None:
    assert parse_timezone("Europe/Berlin") == BERLIN
    assert parse_timezone("UTC") == ZoneInfo("UTC")


@pytest.mark.parametrize(
    "name", ["Nowhere/Special", "", "Europe", "../etc/passwd", "/etc/localtime", "Berlin"]
)
def test_parse_timezone_rejects_anything_else(name: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_timezone(name)
    assert str(caught.value) == f"unknown time zone {name!r}"


def test_cron_trigger_fires_in_its_zone() -> None:
    trigger = CronTrigger(CronExpression.parse("0 9 * * mon-fri"), BERLIN)
    friday_noon = datetime(2024, 7, 5, 12, tzinfo=BERLIN)
    assert upcoming(trigger, friday_noon, 2) == [
        datetime(2024, 7, 8, 7, tzinfo=UTC),
        datetime(2024, 7, 9, 7, tzinfo=UTC),
    ]


def test_cron_trigger_window_includes_both_ends() -> None:
    start_at = datetime(2024, 7, 1, 9, tzinfo=BERLIN)
    end_at = datetime(2024, 7, 3, 9, tzinfo=BERLIN)
    trigger = CronTrigger(
        CronExpression.parse("0 9 * * *"), BERLIN, start_at=start_at, end_at=end_at
    )
    long_before = datetime(2024, 1, 1, tzinfo=UTC)
    assert upcoming(trigger, long_before, 10) == [
        start_at.astimezone(UTC),
        datetime(2024, 7, 2, 7, tzinfo=UTC),
        end_at.astimezone(UTC),
    ]
    assert trigger.next_after(end_at) is None
    assert trigger.next_after(datetime(2030, 1, 1, tzinfo=UTC)) is None


def test_cron_trigger_start_between_fire_times() -> None:
    start_at = datetime(2024, 7, 1, 9, 0, 0, 1, tzinfo=BERLIN)
    trigger = CronTrigger(CronExpression.parse("0 9 * * *"), BERLIN, start_at=start_at)
    assert trigger.next_after(datetime(2024, 1, 1, tzinfo=UTC)) == datetime(
        2024, 7, 2, 7, tzinfo=UTC
    )


def test_cron_trigger_keeps_the_daylight_saving_rules() -> None:
    trigger = CronTrigger(CronExpression.parse("30 2 * * *"), BERLIN)
    spring = trigger.next_after(datetime(2024, 3, 30, 12, tzinfo=BERLIN))
    assert spring == datetime(2024, 3, 31, 1, tzinfo=UTC)  # 03:00 CEST, when the gap ends


def test_triggers_refuse_naive_datetimes() -> None:
    naive = datetime(2024, 1, 1)
    expr = CronExpression.parse("* * * * *")
    with pytest.raises(InvalidInput, match="start_at must be an aware datetime"):
        CronTrigger(expr, BERLIN, start_at=naive)
    with pytest.raises(InvalidInput, match="end_at must be an aware datetime"):
        IntervalTrigger(60, end_at=naive)
    with pytest.raises(InvalidInput, match="at must be an aware datetime"):
        OnceTrigger(naive)
    with pytest.raises(InvalidInput, match="after must be an aware datetime"):
        CronTrigger(expr, BERLIN).next_after(naive)
    with pytest.raises(InvalidInput, match="after must be an aware datetime"):
        IntervalTrigger(60).next_after(naive)
    with pytest.raises(InvalidInput, match="after must be an aware datetime"):
        OnceTrigger(datetime(2024, 1, 1, tzinfo=UTC)).next_after(naive)


def test_window_must_not_end_before_it_starts() -> None:
    start_at = datetime(2024, 1, 2, tzinfo=UTC)
    end_at = datetime(2024, 1, 1, tzinfo=UTC)
    with pytest.raises(InvalidInput, match="end_at: must not be before start_at"):
        CronTrigger(CronExpression.parse("@daily"), BERLIN, start_at=start_at, end_at=end_at)
    with pytest.raises(InvalidInput, match="end_at: must not be before start_at"):
        IntervalTrigger(60, start_at=start_at, end_at=end_at)


def test_interval_is_anchored_at_start() -> None:
    start_at = datetime(2024, 5, 1, 12, 0, 7, tzinfo=UTC)
    trigger = IntervalTrigger(90, start_at=start_at)
    assert trigger.next_after(datetime(2024, 1, 1, tzinfo=UTC)) == start_at
    assert trigger.next_after(start_at) == start_at + timedelta(seconds=90)
    assert trigger.next_after(start_at + timedelta(seconds=90)) == start_at + timedelta(seconds=180)
    assert trigger.next_after(start_at + timedelta(seconds=1000)) == start_at + timedelta(
        seconds=1080
    )


def test_interval_without_start_is_anchored_at_the_epoch() -> None:
    trigger = IntervalTrigger(7)
    after = datetime(2024, 5, 1, 12, tzinfo=UTC)
    fire_at = trigger.next_after(after)
    assert fire_at is not None
    assert fire_at > after and fire_at - after <= timedelta(seconds=7)
    assert (fire_at - datetime(1970, 1, 1, tzinfo=UTC)) % timedelta(seconds=7) == timedelta(0)
    # The grid runs back before 1970 as well.
    assert trigger.next_after(datetime(1969, 12, 31, 23, 59, 59, tzinfo=UTC)) == datetime(
        1970, 1, 1, tzinfo=UTC
    )
    assert trigger.next_after(datetime(1969, 12, 31, 23, 59, 50, tzinfo=UTC)) == datetime(
        1969, 12, 31, 23, 59, 53, tzinfo=UTC
    )


def test_interval_is_real_elapsed_time_across_daylight_saving() -> None:
    start_at = datetime(2024, 10, 27, 1, 0, tzinfo=BERLIN)
    trigger = IntervalTrigger(3600, start_at=start_at)
    times = upcoming(trigger, start_at, 3)
    local = [moment.astimezone(BERLIN).isoformat() for moment in times]
    assert local == [
        "2024-10-27T02:00:00+02:00",
        "2024-10-27T02:00:00+01:00",
        "2024-10-27T03:00:00+01:00",
    ]


def test_interval_keeps_fractions_of_a_second_exactly() -> None:
    start_at = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(0.1, start_at=start_at)
    after = start_at + timedelta(days=365)
    assert trigger.next_after(after) == after + timedelta(milliseconds=100)


def test_interval_end_is_inclusive() -> None:
    start_at = datetime(2024, 1, 1, tzinfo=UTC)
    trigger = IntervalTrigger(60, start_at=start_at, end_at=start_at + timedelta(minutes=2))
    assert upcoming(trigger, start_at - timedelta(seconds=1), 10) == [
        start_at,
        start_at + timedelta(minutes=1),
        start_at + timedelta(minutes=2),
    ]


@pytest.mark.parametrize("interval_s", [0, -5, float("nan"), float("inf"), 1e-9, True])
def test_interval_must_be_positive(interval_s: float) -> None:
    with pytest.raises(InvalidInput, match="interval_s"):
        IntervalTrigger(interval_s)


def test_once_fires_once() -> None:
    at = datetime(2024, 6, 1, 12, tzinfo=timezone(timedelta(hours=2)))
    trigger = OnceTrigger(at)
    assert trigger.next_after(at - timedelta(microseconds=1)) == at
    assert trigger.next_after(at - timedelta(microseconds=1)).tzinfo is UTC  # type: ignore[union-attr]
    assert trigger.next_after(at) is None
    assert upcoming(trigger, datetime(2000, 1, 1, tzinfo=UTC), 5) == [at]


def test_triggers_are_values() -> None:
    expr = CronExpression.parse("@daily")
    assert CronTrigger(expr, BERLIN) == CronTrigger(expr=CronExpression.parse("@daily"), tz=BERLIN)
    assert IntervalTrigger(60, start_at=datetime(2024, 1, 1, 1, tzinfo=BERLIN)) == IntervalTrigger(
        60, start_at=datetime(2024, 1, 1, 0, tzinfo=UTC)
    )
    with pytest.raises(AttributeError):
        OnceTrigger(datetime(2024, 1, 1, tzinfo=UTC)).at = datetime(2025, 1, 1, tzinfo=UTC)  # type: ignore[misc]


def test_no_trigger_fires_after_the_end_of_the_accepted_range() -> None:
    near_end = LATEST_AT - timedelta(days=1)
    cron = CronTrigger(CronExpression.parse("0 0 * * *"), ZoneInfo("UTC"), start_at=near_end)
    assert cron.next_after(near_end) == LATEST_AT
    assert cron.next_after(LATEST_AT) is None
    interval = IntervalTrigger(3600 * 24 * 365, start_at=near_end)
    assert interval.next_after(near_end) is None
    assert interval.next_after(near_end - timedelta(seconds=1)) == near_end
