"""The calendar trigger: pure fire times of an event's occurrences, `before_s` ahead."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

from rota.calendar.reading import calendar_events, read_calendar
from rota.reminders.model import REMIND_TASK
from rota.scheduling.calendar_trigger import CalendarTrigger
from rota.scheduling.model import ScheduleSpec

FIXTURES = Path(__file__).parent / "fixtures"
BERLIN = ZoneInfo("Europe/Berlin")


def event_text(name: str, summary: str) -> str:
    text = (FIXTURES / name).read_text()
    [event] = [e for e in calendar_events(read_calendar(text), text) if e.summary == summary]
    return event.text


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


def fire_times(trigger: CalendarTrigger, after: datetime, count: int) -> list[str]:
    found: list[str] = []
    moment: datetime | None = after
    while len(found) < count:
        moment = trigger.next_after(moment)  # type: ignore[arg-type]
        if moment is None:
            break
        found.append(moment.isoformat())
    return found


def test_next_after_across_daylight_saving_ten_minutes_ahead() -> None:
    trigger = CalendarTrigger(event_text("google.ics", "Stand-up"), BERLIN, before_s=600)
    assert fire_times(trigger, at("2031-03-20T00:00:00+00:00"), 4) == [
        "2031-03-24T07:50:00+00:00",
        "2031-03-31T06:50:00+00:00",  # summer time: an hour earlier in UTC
        "2031-04-14T09:20:00+00:00",  # 7 April excluded, 14 April moved to 11:30
        "2031-04-21T06:50:00+00:00",
    ]
    # strictly after: a fire time itself gives the next one
    assert trigger.next_after(at("2031-03-24T07:50:00+00:00")) == at("2031-03-31T06:50:00+00:00")
    assert trigger.next_after(at("2031-03-24T07:49:59+00:00")) == at("2031-03-24T07:50:00+00:00")


def test_autumn_change_and_end_of_series() -> None:
    trigger = CalendarTrigger(event_text("apple.ics", "Piano lesson"), ZoneInfo("UTC"))
    assert fire_times(trigger, at("2031-10-01T00:00:00+00:00"), 10) == [
        "2031-10-25T14:00:00+00:00",
        "2031-11-01T14:00:00+00:00",
        "2031-11-08T15:00:00+00:00",
        "2031-11-12T23:00:00+00:00",
    ]


def test_window_bounds_the_fire_times() -> None:
    trigger = CalendarTrigger(
        event_text("google.ics", "Stand-up"),
        BERLIN,
        start_at=at("2031-04-01T00:00:00+00:00"),
        end_at=at("2031-04-21T07:00:00+00:00"),
    )
    assert fire_times(trigger, at("2030-01-01T00:00:00+00:00"), 10) == [
        "2031-04-14T09:30:00+00:00",
        "2031-04-21T07:00:00+00:00",
    ]


def test_occurrence_jobs_carry_their_recurrence_id_and_summary() -> None:
    spec = ScheduleSpec(
        name="ics:work:x",
        task=REMIND_TASK,
        ics=event_text("google.ics", "Stand-up"),
        before_s=300,
        tz="Europe/Berlin",
        kwargs={"text": "Stand-up", "calendar": "work", "uid": "u"},
    ).validate()
    moved = at("2031-04-14T09:25:00+00:00")
    assert spec.trigger().next_after(moved - timedelta(seconds=1)) == moved
    job = spec.job_spec("s1", moved, moved)
    assert job.kwargs == {
        "text": "Stand-up (moved)",
        "calendar": "work",
        "uid": "u",
        "recurrence_id": "2031-04-14T07:00:00+00:00",
    }
    assert job.run_at == moved
