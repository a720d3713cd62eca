"""A reminder request becomes the jobs or schedules of the shared contract."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from pydantic import ValidationError

from rota.errors import InvalidInput
from rota.reminders.model import DEFAULT_HORIZON_S, REMIND_TASK, REMINDER_QUEUE
from rota.reminders.submit import ReminderRequest, plan

NOW = datetime(2030, 3, 5, 8, 0, tzinfo=UTC)
NTFY = "ntfy://127.0.0.1:9/alerts"


def request(**fields: Any) -> ReminderRequest:
    return ReminderRequest.model_validate({"text": "Stand-up", "at": "in 10m", **fields})


def test_one_device_is_one_job_due_at_the_time_with_its_deadline() -> None:
    made = plan(request(device="laptop", deadline=600, idempotency_key="k"), NOW)
    [job] = made.jobs
    assert not made.schedules
    assert job.task == REMIND_TASK and job.queue == REMINDER_QUEUE
    assert job.target == "device:laptop" and job.kwargs == {"text": "Stand-up"}
    assert job.run_at == NOW + timedelta(minutes=10)
    assert job.deadline_at == NOW + timedelta(minutes=20)
    assert job.idempotency_key == "remind:k:laptop"


def test_devices_notify_and_any_device_route_as_the_contract_says() -> None:
    made = plan(request(devices=["laptop", "pi"], notify=[NTFY]), NOW)
    assert [(job.target, job.queue) for job in made.jobs] == [
        ("device:laptop", "reminders"),
        ("device:pi", "reminders"),
        (None, "default"),
    ]
    # Devices do not get the URLs: the notify job alone sends them.
    assert [job.kwargs for job in made.jobs] == [
        {"text": "Stand-up"},
        {"text": "Stand-up"},
        {"text": "Stand-up", "notify": [NTFY]},
    ]
    [anyone] = plan(request(any_device=True), NOW).jobs
    assert anyone.target == "device" and anyone.queue == "reminders"


def test_recurring_reminders_are_schedules_written_a_horizon_ahead_for_devices() -> None:
    made = plan(
        request(
            at="09:55",
            tz="Europe/Berlin",
            repeat="weekdays",
            devices=["a", "b"],
            notify=[NTFY],
            name="standup",
            deadline=60,
        ),
        NOW,
    )
    assert not made.jobs
    assert [s.name for s in made.schedules] == ["standup.a", "standup.b", "standup.notify"]
    first = made.schedules[0]
    assert first.cron == "55 9 * * MON-FRI" and first.tz == "Europe/Berlin"
    assert first.task == REMIND_TASK and first.target == "device:a"
    assert first.start_at == datetime(2030, 3, 5, 8, 55, tzinfo=UTC)
    assert first.deadline_s == 60
    assert first.lookahead_s == DEFAULT_HORIZON_S
    assert made.schedules[2].lookahead_s == 0 and made.schedules[2].target is None
    every = plan(request(at=None, every=3600, device="pi", name="water"), NOW).schedules[0]
    assert every.interval_s == 3600 and every.start_at == NOW and every.name == "water"


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"device": "a", "any_device": True}, "not device and any_device"),
        ({}, "say where it rings"),
        ({"device": "a", "repeat": "daily", "every": 60}, "not both"),
        ({"device": "a", "at": None}, "at: field required"),
        ({"device": "has space"}, "device"),
        ({"devices": []}, "at least one name"),
        ({"device": "a", "at": None, "every": 59.5}, "at most once a minute"),
        ({"device": "a", "deadline": 0}, "deadline\n  Value error, must be more than 0"),
    ],
)
def test_requests_that_say_nothing_clear_are_refused(fields: dict[str, Any], words: str) -> None:
    with pytest.raises(ValidationError, match=words):
        request(**fields)


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"device": "a", "tz": "Mars/Olympus"}, "tz: unknown time zone"),
        ({"device": "a", "at": "soon"}, "at: 'soon' is not a time"),
        ({"device": "a", "repeat": "61 * * * *"}, "repeat: cron field 1"),
        ({"device": "a", "repeat": "* * * * * *"}, "repeat: a reminder repeats at most once"),
        ({"device": "a", "repeat": "0,30 * * * * *"}, "rings 2 times in one"),
        ({"notify": ["not a url"]}, "notify"),
        ({"device": "a", "text": "   "}, "text: must not be blank"),
    ],
)
def test_bad_values_raise_invalid_input_naming_the_field(
    fields: dict[str, Any], words: str
) -> None:
    with pytest.raises(InvalidInput, match=words):
        plan(request(**fields), NOW)


def test_a_lookahead_is_refused_with_overlap_skip() -> None:
    from rota.scheduling.model import Overlap, ScheduleSpec

    spec = ScheduleSpec(name="x", task=REMIND_TASK, cron="* * * * *", lookahead_s=600)
    assert spec.validate() is spec
    with pytest.raises(InvalidInput, match="lookahead_s: not with overlap=skip"):
        ScheduleSpec(
            name="x", task=REMIND_TASK, cron="* * * * *", lookahead_s=600, overlap=Overlap.SKIP
        ).validate()
    with pytest.raises(
        InvalidInput, match="lookahead_s: must be a number of seconds from 0 to 3600"
    ):
        ScheduleSpec(name="x", task=REMIND_TASK, cron="* * * * *", lookahead_s=7200).validate()
