"""Calendar schedules in every store: the iCalendar text is kept whole, and a scheduler
round writes each occurrence once, with its recurrence id and summary, across daylight
saving and an override."""

from __future__ import annotations

import random
from datetime import UTC, datetime

from rota.clock import ManualClock
from rota.scheduling import admin
from rota.scheduling.model import ScheduleSpec
from rota.server.scheduler import Scheduler
from rota.store import JobQuery, Store

ICS = "\r\n".join(
    [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Rota//tests//EN",
        "BEGIN:VEVENT",
        "UID:weekly@example.com",
        "SUMMARY:Stand-up",
        "DTSTART;TZID=Europe/Berlin:20300318T090000",
        "RRULE:FREQ=WEEKLY;COUNT=4",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:weekly@example.com",
        "SUMMARY:Stand-up (moved)",
        "RECURRENCE-ID;TZID=Europe/Berlin:20300401T090000",
        "DTSTART;TZID=Europe/Berlin:20300401T100000",
        "END:VEVENT",
        "END:VCALENDAR",
        "",
    ]
)


def at(text: str) -> datetime:
    return datetime.fromisoformat(text).astimezone(UTC)


async def test_calendar_schedule_round_trips_and_fires_each_occurrence_once(
    store: Store, clock: ManualClock
) -> None:
    spec = ScheduleSpec(
        name="ics:home:abc",
        task="rota.remind",
        ics=ICS,
        before_s=300,
        tz="Europe/Berlin",
        kwargs={"text": "Stand-up", "calendar": "home", "uid": "weekly@example.com"},
        queue="reminders",
        target="device",
    )
    created = await admin.create(store, spec)
    assert created.next_fire_at == at("2030-03-18T07:55:00+00:00")
    assert (await store.get_schedule("ics:home:abc")).spec == spec
    scheduler = Scheduler(store=store, on_written=lambda: None, rng=random.Random(7))
    fire_at = [
        "2030-03-18T07:55:00+00:00",
        "2030-03-25T07:55:00+00:00",
        "2030-04-01T07:55:00+00:00",  # moved to 10:00 in summer time: 08:00 UTC
        "2030-04-08T06:55:00+00:00",  # summer time from 31 March
    ]
    for moment in fire_at:
        clock.advance((at(moment) - clock.now_utc()).total_seconds())
        await scheduler.fire_once()
        await scheduler.fire_once()  # a second round writes nothing twice
    page = await store.list_jobs(JobQuery(limit=100))
    written = sorted(
        (job.run_at.isoformat(), job.kwargs["recurrence_id"], job.kwargs["text"])
        for job in page.jobs
    )
    assert written == [
        ("2030-03-18T07:55:00+00:00", "2030-03-18T08:00:00+00:00", "Stand-up"),
        ("2030-03-25T07:55:00+00:00", "2030-03-25T08:00:00+00:00", "Stand-up"),
        ("2030-04-01T07:55:00+00:00", "2030-04-01T07:00:00+00:00", "Stand-up (moved)"),
        ("2030-04-08T06:55:00+00:00", "2030-04-08T07:00:00+00:00", "Stand-up"),
    ]
    assert all(job.target == "device" and job.queue == "reminders" for job in page.jobs)
    assert (await store.get_schedule("ics:home:abc")).next_fire_at is None
