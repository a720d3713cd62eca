"""Reading when a reminder is due: HH:MM, ISO 8601 and "in 10m", and repeat words as cron."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest

from rota.errors import InvalidInput
from rota.reminders.when import due_at, repeat_cron

BERLIN = ZoneInfo("Europe/Berlin")
NOW = datetime(2030, 3, 5, 8, 0, tzinfo=UTC)  # 09:00 in Berlin


def test_clock_time_is_the_next_one_in_the_zone() -> None:
    assert due_at("09:55", BERLIN, NOW) == datetime(2030, 3, 5, 8, 55, tzinfo=UTC)
    # 08:30 Berlin has passed today: tomorrow's.
    assert due_at("08:30", BERLIN, NOW) == datetime(2030, 3, 6, 7, 30, tzinfo=UTC)
    assert due_at("9:00:30", BERLIN, NOW) == datetime(2030, 3, 5, 8, 0, 30, tzinfo=UTC)


def test_clock_time_the_clock_skips_means_the_first_instant_after_the_gap() -> None:
    before_spring = datetime(2030, 3, 31, 0, 0, tzinfo=UTC)  # 01:00 CET; 02:00-03:00 skipped
    assert due_at("02:30", BERLIN, before_spring) == datetime(2030, 3, 31, 1, 0, tzinfo=UTC)


def test_relative_and_iso_times() -> None:
    assert due_at("in 10m", BERLIN, NOW) == NOW + timedelta(minutes=10)
    assert due_at("+1h30m", BERLIN, NOW) == NOW + timedelta(hours=1, minutes=30)
    assert due_at("2030-03-05T12:00", BERLIN, NOW) == datetime(2030, 3, 5, 11, tzinfo=UTC)
    assert due_at("2030-03-05T12:00+00:00", BERLIN, NOW) == datetime(2030, 3, 5, 12, tzinfo=UTC)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("tomorrow", "is not a time"),
        ("25:00", "not a time of day"),
        ("in 10 parsecs", "is not a time"),
        ("2020-01-01T00:00+00:00", "in the past"),
        ("in 99999999d", "must be a number of seconds"),
    ],
)
def test_refusals_name_the_field(text: str, words: str) -> None:
    with pytest.raises(InvalidInput, match=words) as caught:
        due_at(text, BERLIN, NOW)
    assert caught.value.message.startswith("at: ")


def test_repeat_words_take_the_wall_time_of_at() -> None:
    wall = datetime(2030, 3, 5, 9, 55)  # a Tuesday
    assert repeat_cron("daily", wall) == "55 9 * * *"
    assert repeat_cron("weekdays", wall) == "55 9 * * MON-FRI"
    assert repeat_cron("weekly", wall) == "55 9 * * TUE"
    assert repeat_cron("hourly", None) == "0 * * * *"
    assert repeat_cron("0 9 * * MON-FRI", wall) == "0 9 * * MON-FRI"
    with pytest.raises(InvalidInput, match="daily needs --at"):
        repeat_cron("daily", None)
