"""Import a calendar into a Store: read the file, compare with what is there, write the plan.

The file is read and checked whole before anything is written, so a malformed file changes
nothing. Writes go through the same verbs as every client's (submit, cancel, and
rota.scheduling.admin for schedules), so the scheduler, dispatcher and devices see them as
they see any other change.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Protocol

from rota.calendar.plan import ImportOptions, ImportPlan, Wanted, diff, wanted
from rota.calendar.reading import calendar_events, read_calendar
from rota.errors import InvalidTransition, JobNotFound, ScheduleNotFound
from rota.jobs import Job, JobSpec, JobState
from rota.reminders.model import REMIND_TASK
from rota.scheduling import admin
from rota.store.base import JobQuery, Store
from rota.store.common import MAX_PAGE


class JobWriter(Protocol):
    """Submits and cancels jobs with their follow-ups (the server's JobsService)."""

    async def submit(self, specs: Sequence[JobSpec], *, since: datetime, bulk: bool) -> list[Job]:
        """Submit jobs and return them in order."""
        ...

    async def cancel(self, job_id: str) -> Job:
        """Cancel a job; a device that holds it is told."""
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
    calendar = read_calendar(text)
    want: Wanted = wanted(calendar_events(calendar, text), options)
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
    for job_id in plan.cancel:
        try:
            await jobs.cancel(job_id)
        except (InvalidTransition, JobNotFound):
            pass  # it rang or went meanwhile: nothing left to cancel
    submitted = await jobs.submit(plan.submit, since=now, bulk=True) if plan.submit else []
    for spec in plan.upsert:
        await admin.upsert(store, spec)
    for schedule_id in plan.delete:
        try:
            await admin.delete(store, schedule_id)
        except ScheduleNotFound:
            pass
    return ImportResult(plan=plan, submitted=submitted)
