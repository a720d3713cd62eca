"""Importing into a store: a changed series brings the occurrences it already wrote ahead
of their time in line (a moved occurrence is withdrawn and written at its new time)."""

from __future__ import annotations

import threading
from collections.abc import Sequence
from datetime import UTC, datetime

import pytest
from icalendar import Calendar

from rota.calendar import importer
from rota.calendar.importer import import_calendar
from rota.calendar.plan import ImportOptions, wanted
from rota.calendar.reading import calendar_events, read_calendar
from rota.clock import ManualClock
from rota.jobs import Job, JobSpec, JobState
from rota.server.scheduler import Scheduler
from rota.store.base import JobChanges, JobQuery, Store
from rota.store.memory import MemoryStore

SERIES = [
    "BEGIN:VCALENDAR",
    "VERSION:2.0",
    "PRODID:-//Rota//tests//EN",
    "BEGIN:VEVENT",
    "UID:weekly@example.com",
    "SUMMARY:Stand-up",
    "DTSTART;TZID=Europe/Berlin:20300318T090000",
    "RRULE:FREQ=WEEKLY;COUNT=4",
    "END:VEVENT",
    "END:VCALENDAR",
]
MOVED = [
    "BEGIN:VEVENT",
    "UID:weekly@example.com",
    "SUMMARY:Stand-up (early)",
    "RECURRENCE-ID;TZID=Europe/Berlin:20300318T090000",
    "DTSTART;TZID=Europe/Berlin:20300318T083000",
    "END:VEVENT",
]
OPTIONS = ImportOptions(calendar="home", target="device", before_s=600, tz="Europe/Berlin")


class StoreWriter:
    """Writes jobs straight to the store (the server's JobsService adds its follow-ups)."""

    def __init__(self, store: Store) -> None:
        self.store = store

    async def submit(self, specs: Sequence[JobSpec], *, since: datetime, bulk: bool) -> list[Job]:
        return await self.store.submit(specs)

    async def cancel(self, job_id: str) -> Job:
        return await self.store.cancel(job_id)

    async def update(self, job_id: str, changes: JobChanges) -> Job:
        return await self.store.update(job_id, changes)


def text(lines: list[str]) -> str:
    return "\r\n".join(lines) + "\r\n"


async def jobs(store: Store, state: JobState) -> list[tuple[str, str]]:
    page = await store.list_jobs(JobQuery(state=state, limit=100))
    return sorted((job.run_at.isoformat(), str(job.kwargs["text"])) for job in page.jobs)


async def test_a_moved_occurrence_already_written_is_withdrawn_and_rewritten() -> None:
    clock = ManualClock(datetime(2030, 3, 1, tzinfo=UTC))
    store = MemoryStore(clock=clock)
    await store.open()
    writer = StoreWriter(store)
    scheduler = Scheduler(store=store, on_written=lambda: None, lookahead_s=3600)

    report = await import_calendar(store, writer, text(SERIES), OPTIONS)
    assert report.plan.to_dict(dry_run=False)["added"] == 1
    clock.advance((datetime(2030, 3, 18, 7, 0, tzinfo=UTC) - clock.now_utc()).total_seconds())
    await scheduler.fire_once()  # writes the 07:50 UTC reminder an hour ahead
    assert await jobs(store, JobState.PENDING) == [("2030-03-18T07:50:00+00:00", "Stand-up")]

    moved = text(SERIES[:-1] + MOVED + SERIES[-1:])
    report = await import_calendar(store, writer, moved, OPTIONS)
    assert report.plan.to_dict(dry_run=False)["updated"] == 1
    await scheduler.fire_once()
    assert await jobs(store, JobState.CANCELLED) == [("2030-03-18T07:50:00+00:00", "Stand-up")]
    assert await jobs(store, JobState.PENDING) == [
        ("2030-03-18T07:20:00+00:00", "Stand-up (early)")
    ]
    again = await import_calendar(store, writer, moved, OPTIONS)
    assert again.plan.to_dict(dry_run=False)["unchanged"] == 1
    await store.close()


async def test_an_event_about_to_begin_sounds_at_once_and_one_begun_is_past() -> None:
    clock = ManualClock(datetime(2030, 3, 1, 12, 0, tzinfo=UTC))
    store = MemoryStore(clock=clock)
    await store.open()
    events = [
        "BEGIN:VCALENDAR",
        "VERSION:2.0",
        "PRODID:-//Rota//tests//EN",
        "BEGIN:VEVENT",
        "UID:soon",
        "SUMMARY:Soon",
        "DTSTART:20300301T120500Z",
        "END:VEVENT",
        "BEGIN:VEVENT",
        "UID:begun",
        "SUMMARY:Begun",
        "DTSTART:20300301T115900Z",
        "END:VEVENT",
        "END:VCALENDAR",
    ]
    report = (await import_calendar(store, StoreWriter(store), text(events), OPTIONS)).plan
    assert (report.to_dict(dry_run=False)["added"], report.past) == (1, 1)
    # due ten minutes before 12:05, so at once
    assert await jobs(store, JobState.PENDING) == [("2030-03-01T11:55:00+00:00", "Soon")]
    again = (await import_calendar(store, StoreWriter(store), text(events), OPTIONS)).plan
    assert (again.to_dict(dry_run=False)["unchanged"], again.past) == (1, 1)
    await store.close()


def test_a_summary_with_control_characters_is_imported_with_spaces() -> None:
    # A reminder's text may hold no NUL (notify-send and espeak-ng cannot take one), so a
    # calendar's summary is cleaned instead of the import failing.
    calendar_text = (
        "BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:x\r\nBEGIN:VEVENT\r\nUID:u\x01@x\r\n"
        "DTSTART:20310101T100000Z\r\nSUMMARY:Den\x00tist\x1b\r\nEND:VEVENT\r\nEND:VCALENDAR\r\n"
    )
    events = calendar_events(read_calendar(calendar_text), calendar_text)
    [reminder] = wanted(events, ImportOptions(calendar="work")).reminders
    assert reminder.spec.kwargs["text"] == "Den tist"
    assert reminder.spec.kwargs["uid"] == reminder.uid == "u @x"  # re-import matches it


async def test_the_file_is_read_off_the_event_loop(monkeypatch: pytest.MonkeyPatch) -> None:
    """A large calendar's parse and expansion take CPU: they must not stall the server."""
    readers: list[bool] = []

    def reading(ics: str) -> Calendar:
        readers.append(threading.current_thread() is threading.main_thread())
        return read_calendar(ics)

    monkeypatch.setattr(importer, "read_calendar", reading)
    store = MemoryStore(clock=ManualClock(datetime(2030, 3, 1, tzinfo=UTC)))
    await store.open()
    plan = await importer.plan_import(store, text(SERIES), OPTIONS)
    assert plan.to_dict(dry_run=True)["added"] == 1
    assert readers == [False]
    await store.close()
