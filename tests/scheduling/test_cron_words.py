"""Cron expressions in words, in the schedule's JSON and in a draft's preview."""

from __future__ import annotations

from datetime import UTC, date, datetime

import pytest

from rota.scheduling.cron_parse import CronExpression
from rota.scheduling.cron_words import describe_cron
from rota.scheduling.model import Schedule, ScheduleSpec


@pytest.mark.parametrize(
    ("expression", "words"),
    [
        ("*/5 * * * *", "Every 5 minutes"),
        ("0 3 * * *", "At 03:00"),
        ("@daily", "At 00:00"),
        ("30 0 3 * * *", "At 03:00:30"),  # six fields: seconds first, as Rota reads them
        ("0 9 * * mon-fri", "At 09:00, Monday through Friday"),
        # Both day fields restricted: either matches; one of them starting with * (a step):
        # both must match (Vixie cron's rule, docs/schedules.md).
        ("0 9 13 * fri", "At 09:00, on day 13 of the month, or on Friday"),
        ("0 9 */2 * mon", "At 09:00, every 2 days, but only on Monday"),
        # Either matches also where the library joins the fields with a bare comma.
        ("0 9 1 * mon-fri", "At 09:00, on day 1 of the month, or Monday through Friday"),
        ("0 0 9 1-7 * 1-5", "At 09:00, between day 1 and 7 of the month, or Monday through Friday"),
    ],
)
def test_cron_in_words(expression: str, words: str) -> None:
    assert describe_cron(expression) == words


def test_the_words_say_either_day_field_where_the_matcher_takes_either() -> None:
    expression = CronExpression.parse("0 9 1 * mon-fri")
    assert expression.matches_day(date(2030, 1, 2))  # a Wednesday, not the 1st
    assert expression.matches_day(date(2030, 6, 1))  # the 1st, a Saturday
    assert ", or Monday through Friday" in (describe_cron(expression.text) or "")


def test_unreadable_text_has_no_words() -> None:
    assert describe_cron("not cron") is None


def test_a_schedule_carries_its_description() -> None:
    now = datetime(2030, 1, 1, tzinfo=UTC)
    spec = ScheduleSpec(name="n", task="t.x", cron="0 3 * * *", tz="Europe/Berlin")
    data = Schedule(id="s1", spec=spec, next_fire_at=None, created_at=now, updated_at=now).to_dict()
    assert data["description"] == "At 03:00"
    every = ScheduleSpec(name="m", task="t.x", interval_s=60.0)
    assert (
        Schedule(id="s2", spec=every, next_fire_at=None, created_at=now, updated_at=now).to_dict()[
            "description"
        ]
        is None
    )
