"""The one range of times and spans (rota.moments), and the settings that use it."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from rota.errors import InvalidInput
from rota.moments import EARLIEST_AT, LATEST_AT, MAX_SPAN_S, after, check_moment, check_span
from rota.scheduling.model import ScheduleSpec
from rota.settings import load_settings


def test_the_ends_are_in_range_and_come_back_in_utc() -> None:
    assert check_moment(EARLIEST_AT, "run_at") == EARLIEST_AT
    shifted = LATEST_AT.astimezone(timezone(timedelta(hours=14)))
    assert check_moment(shifted, "run_at") == LATEST_AT
    assert check_moment(shifted, "run_at").tzinfo is UTC


@pytest.mark.parametrize(
    "moment",
    [
        datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1))),
        datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1))),
        LATEST_AT + timedelta(microseconds=1),
        EARLIEST_AT - timedelta(microseconds=1),
    ],
)
def test_moments_out_of_range_are_refused_by_name(moment: datetime) -> None:
    with pytest.raises(InvalidInput, match=r"^run_at: must be between 1970-01-01T00:00:00Z and"):
        check_moment(moment, "run_at")


def test_a_naive_moment_is_refused() -> None:
    with pytest.raises(InvalidInput, match=r"^deadline: must be a time with a UTC offset"):
        check_moment(datetime(2030, 1, 1), "deadline")


@pytest.mark.parametrize("value", [1e300, float("inf"), float("nan"), -1.0, MAX_SPAN_S + 1])
def test_spans_out_of_range_are_refused_by_name(value: float) -> None:
    with pytest.raises(InvalidInput, match=r"^delay: must be a number of seconds from 0 to"):
        check_span(value, "delay")
    with pytest.raises(InvalidInput, match=r"^delay: "):
        after(datetime.now(UTC), value)


def test_positive_spans_refuse_zero() -> None:
    assert check_span(0, "jitter") == 0.0
    with pytest.raises(InvalidInput, match="above 0"):
        check_span(0, "timeout", positive=True)


def test_every_accepted_moment_plus_accepted_spans_stays_a_datetime() -> None:
    # The headroom promise: backoff, deadline and jitter on the latest moment, in any zone.
    latest = LATEST_AT + 3 * timedelta(seconds=MAX_SPAN_S) + timedelta(days=1)
    assert latest.astimezone(timezone(timedelta(hours=14))).year < 9999


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("start_at", datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))),
        ("end_at", datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))),
        ("interval_s", 1e300),
        ("jitter_s", float("inf")),
        ("deadline_s", 1e300),
        ("timeout_s", 1e300),
    ],
)
def test_a_schedule_spec_checks_its_times(field: str, value: object) -> None:
    values: dict[str, object] = {"name": "s", "task": "rota.echo", "interval_s": 60, field: value}
    with pytest.raises(InvalidInput, match=rf"^{field}: must be"):
        ScheduleSpec(**values).validate()  # type: ignore[arg-type]


@pytest.mark.parametrize("name", ["ROTA_RETENTION_S", "ROTA_LEASE_S", "ROTA_DRAIN_GRACE_S"])
@pytest.mark.parametrize("value", ["1e300", "inf"])
def test_settings_refuse_spans_out_of_range(name: str, value: str) -> None:
    with pytest.raises(InvalidInput, match=name.removeprefix("ROTA_").lower()):
        load_settings(environ={name: value, "ROTA_CONFIG": "/nonexistent/rota.toml"})
