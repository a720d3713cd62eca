"""Import a calendar into a Store: read the file, compare with what is there, write the plan.

The file is read and checked whole before anything is written, so a malformed file changes
nothing. Writes go through the same verbs as every client's (submit, cancel, and
rota.scheduling.admin for schedules), so the scheduler, dispatcher and devices see them as
they see any other change.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rota.calendar.plan import ImportOptions, ImportPlan, Wanted, diff, wanted
from rota.calendar.reading import calendar_events, read_calendar
from rota.errors import InvalidTransition, JobNotFound, ScheduleChanged, ScheduleNotFound
from rota.jobs import Job, JobSpec, JobState
from rota.reminders.model import REMIND_TASK
from rota.scheduling import admin
from rota.scheduling.calendar_trigger import CalendarTrigger
from rota.scheduling.model import Schedule
from rota.scheduling.planner import first_fire_at
from rota.store.base import JobChanges, JobQuery, Store
from rota.store.common import MAX_PAGE


class JobWriter(Protocol):
    """Submits and cancels jobs with their follow-ups (the server's JobsService)."""

    async def submit(self, specs: Sequence[JobSpec], *, since: datetime, bulk: bool) -> list[Job]:
        """Submit jobs and return them in order."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job; a device that holds it is told."""
        ...

    async def update(self, job_id: str, changes: JobChanges) -> Job:
        """Change a pending job."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportResult:
    """What an import did (or, dry, would do), and the jobs it submitted."""

    plan: ImportPlan
    submitted: list[Job]


async def _active_reminders(store: Store, calendar: str) -> list[Job]:
    """Return this calendar's reminder jobs that are pending or running (held by a device)."""
    found: list[Job] = []
    for state in (JobState.PENDING, JobState.RUNNING):
        cursor: str | None = None
        while True:
            page = await store.list_jobs(
                JobQuery(state=state, task=REMIND_TASK, limit=MAX_PAGE, cursor=cursor)
            )
            found += [
                job
                for job in page.jobs
                if job.task == REMIND_TASK and job.kwargs.get("calendar") == calendar
            ]
            cursor = page.next_cursor
            if cursor is None:
                break
    return found


async def _keyed(store: Store, keys: list[str]) -> dict[str, Job]:
    """Return the jobs (any state) these idempotency keys name."""
    found: dict[str, Job] = {}
    for key in keys:
        page = await store.list_jobs(JobQuery(search=key, task=REMIND_TASK, limit=10))
        for job in page.jobs:
            if job.idempotency_key == key:
                found[key] = job
    return found


async def plan_import(store: Store, text: str, options: ImportOptions) -> ImportPlan:
    """Return what importing the calendar text would change, changing nothing.

    Raises InvalidCalendar (naming the line) for a malformed file, InvalidInput for bad
    options.
    """
    options.validate()
    # Parsing and expanding a large calendar takes CPU: a thread keeps the server's loop free.
    want = await asyncio.to_thread(_wanted_from_text, text, options)
    active = await _active_reminders(store, options.calendar)
    held = {job.idempotency_key for job in active}
    unmatched = [
        reminder.spec.idempotency_key
        for reminder in want.reminders
        if reminder.spec.idempotency_key is not None and reminder.spec.idempotency_key not in held
    ]
    keyed = await _keyed(store, [key for key in unmatched if key is not None])
    schedules = [s for s in await store.list_schedules() if s.name.startswith(options.prefix)]
    return diff(want, active=active, keyed=keyed, schedules=schedules, now=await store.now())


def _wanted_from_text(text: str, options: ImportOptions) -> Wanted:
    return wanted(calendar_events(read_calendar(text), text), options)


async def import_calendar(
    store: Store, jobs: JobWriter, text: str, options: ImportOptions, *, dry_run: bool = False
) -> ImportResult:
    """Bring the store in line with the calendar text and return what changed.

    Keyed by (calendar, UID, recurrence id): importing the same file again changes nothing;
    what the file no longer has is cancelled (reminders) or removed (schedules). With
    `dry_run`, nothing is written. Jobs are written through `jobs`, schedules through
    rota.scheduling.admin.
    """
    now = await store.now()
    plan = await plan_import(store, text, options)
    if dry_run:
        return ImportResult(plan=plan, submitted=[])
    # Submitting first: a refusal (a task no worker knows) leaves everything as it was.
    submitted = await jobs.submit(plan.submit, since=now, bulk=True) if plan.submit else []
    for job_id in plan.cancel:
        try:
            await jobs.cancel(job_id)
        except (InvalidTransition, JobNotFound):
            pass  # it rang or went meanwhile: nothing left to cancel
    for spec in plan.upsert:
        schedule, created = await admin.upsert(store, spec)
        if not created:
            await _rewrite_ahead(store, jobs, schedule)
    for schedule_id in plan.delete:
        try:
            await admin.delete(store, schedule_id)
        except ScheduleNotFound:
            pass
    return ImportResult(plan=plan, submitted=submitted)


async def _rewrite_ahead(store: Store, jobs: JobWriter, schedule: Schedule) -> None:
    """Bring the occurrences a changed series had already written in line with it.

    The scheduler writes occurrences shortly ahead of their time; one the series no longer
    has is cancelled, one whose summary changed is updated, and one the change moved
    before those already written is written by the next round.
    """
    trigger = schedule.spec.trigger()
    if not isinstance(trigger, CalendarTrigger):
        return
    page = await store.list_jobs(
        JobQuery(schedule_id=schedule.id, state=JobState.PENDING, limit=MAX_PAGE)
    )
    for job in page.jobs:
        fire_at = _fire_at(job)
        if fire_at is None:
            continue
        try:
            if trigger.occurrence_at(fire_at) is None:
                await jobs.cancel(job.id)
                continue
            wanted = schedule.spec.job_spec(schedule.id, fire_at, job.run_at).kwargs
            if wanted != job.kwargs:
                await jobs.update(job.id, JobChanges(kwargs=wanted))
        except (InvalidTransition, JobNotFound):
            continue  # it started or went meanwhile
    first = first_fire_at(trigger, await store.now())
    if first is None or (schedule.next_fire_at is not None and first >= schedule.next_fire_at):
        return
    try:
        await store.update_schedule(
            schedule.id, version=schedule.version, spec=schedule.spec, next_fire_at=first
        )
    except (ScheduleChanged, ScheduleNotFound):
        pass  # a round or an edit got there first; it has read the new spec


def _fire_at(job: Job) -> datetime | None:
    """Return the fire time an occurrence's key names (schedule:<id>:<fire time>)."""
    key = job.idempotency_key or ""
    if not key.startswith("schedule:"):
        return None
    try:
        return datetime.fromisoformat(key.split(":", 2)[2])
    except (IndexError, ValueError):
        return None
