"""Quiet hours: parsing, and which moments fall inside."""

from __future__ import annotations

from datetime import UTC, datetime, time, timedelta, timezone

import pytest

from rota.device.quiet import QuietHours
from rota.errors import InvalidInput


def _at(hour: int, minute: int = 0, tz: timezone = UTC) -> datetime:
    return datetime(2026, 3, 2, hour, minute, tzinfo=tz)


def test_parse_reads_start_and_end() -> None:
    quiet = QuietHours.parse(" 22:00 - 7:30 ")
    assert (quiet.start, quiet.end) == (time(22, 0), time(7, 30))
    assert str(quiet) == "22:00-07:30"


@pytest.mark.parametrize("text", ["", "22:00", "22-07", "22:00-7", "24:00-07:00", "22:60-07:00"])
def test_parse_refuses_what_is_not_a_span(text: str) -> None:
    with pytest.raises(InvalidInput, match="quiet hours"):
        QuietHours.parse(text)


def test_a_span_across_midnight() -> None:
    quiet = QuietHours.parse("22:00-07:00")
    assert _at(22) in quiet and _at(23, 59) in quiet and _at(0) in quiet and _at(6, 59) in quiet
    assert _at(7) not in quiet and _at(12) not in quiet and _at(21, 59) not in quiet


def test_a_span_within_a_day() -> None:
    quiet = QuietHours.parse("13:00-14:30")
    assert _at(13) in quiet and _at(14, 29) in quiet
    assert _at(14, 30) not in quiet and _at(12, 59) not in quiet


def test_an_empty_span_is_never_quiet() -> None:
    quiet = QuietHours.parse("08:00-08:00")
    assert all(_at(hour) not in quiet for hour in range(24))


def test_a_moment_is_read_in_its_own_zone() -> None:
    quiet = QuietHours.parse("22:00-07:00")
    berlin_winter = timezone(timedelta(hours=1))
    assert _at(22, 30, tz=berlin_winter) in quiet
    assert _at(22, 30, tz=berlin_winter).astimezone(UTC) not in quiet  # 21:30 in UTC
    assert "23:00" not in quiet
