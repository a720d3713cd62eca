"""The in-memory store's schedules: create, read, change, remove and fire them, each one
atomic step, with the same compare-and-set on the version as the SQL stores."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from contextlib import AbstractContextManager
from datetime import datetime, timedelta

from rota.clock import Clock
from rota.errors import ScheduleChanged, ScheduleExists, ScheduleNotFound
from rota.ids import new_job_id
from rota.jobs import Job, JobSpec, JobState
from rota.lifecycle import EventKind
from rota.safe_text import excerpt
from rota.scheduling.model import Firing, Schedule, ScheduleSpec
from rota.store.common import dump_json
from rota.store.explore import MAX_SKIPS_KEPT, ScheduleSkip
from rota.store.memory_data import MemoryData, ScheduleRecord

Step = Callable[[], AbstractContextManager[MemoryData]]
Submit = Callable[[MemoryData, Sequence[JobSpec], datetime], list[Job]]


class MemorySchedules:
    """Schedules kept in a MemoryData; `step` holds its lock for one atomic change, and
    `submit` inserts jobs exactly as the store's submit does."""

    def __init__(self, *, step: Step, clock: Clock, submit: Submit) -> None:
        self._step = step
        self._clock = clock
        self._submit = submit

    def create(self, spec: ScheduleSpec, next_fire_at: datetime | None) -> Schedule:
        """Insert a schedule with a new id; ScheduleExists when its name is taken."""
        stored = _stored(spec)
        with self._step() as data:
            if any(record.spec.name == spec.name for record in data.schedules.values()):
                raise ScheduleExists(f"a schedule named {spec.name!r} exists already")
            now = self._clock.now_utc()
            record = ScheduleRecord(
                id=new_job_id(),
                spec=stored,
                next_fire_at=next_fire_at,
                created_at=now,
                updated_at=now,
            )
            data.schedules[record.id] = record
            return _schedule(data, record)

    def get(self, ref: str) -> Schedule:
        """Return the schedule with that id, or else that name; ScheduleNotFound if none."""
        with self._step() as data:
            return _schedule(data, _find(data, ref))

    def all(self) -> list[Schedule]:
        """Return every schedule, by name."""
        with self._step() as data:
            records = sorted(data.schedules.values(), key=lambda record: record.spec.name)
            return [_schedule(data, record) for record in records]

    def update(
        self, schedule_id: str, version: int, spec: ScheduleSpec, next_fire_at: datetime | None
    ) -> Schedule:
        """Replace the spec and next fire time if the version is still current; cancel the
        occurrences written ahead of their time when the new spec is paused."""
        stored = _stored(spec)
        with self._step() as data:
            record = data.schedules.get(schedule_id)
            if record is None or record.version != version:
                current = _find(data, schedule_id)  # ScheduleNotFound when it is gone
                raise ScheduleChanged(
                    f"schedule {current.spec.name!r} changed meanwhile (version "
                    f"{current.version}, not {version}); read it again"
                )
            now = self._clock.now_utc()
            record.spec, record.next_fire_at = stored, next_fire_at
            record.version += 1
            record.updated_at = now
            if stored.paused:
                _cancel_ahead(data, schedule_id, now, "its schedule was paused")
            return _schedule(data, record)

    def delete(self, schedule_id: str) -> Schedule:
        """Remove the schedule and cancel its occurrences written ahead of their time."""
        with self._step() as data:
            record = _find(data, schedule_id)
            schedule = _schedule(data, record)
            _cancel_ahead(data, record.id, self._clock.now_utc(), "its schedule was removed")
            del data.schedules[record.id]
            data.schedule_skips.pop(record.id, None)
            return schedule

    def due(self, until: datetime, limit: int) -> list[Schedule]:
        """Return active schedules whose next fire time, less their own lookahead_s, is at
        or before `until`, soonest first."""
        with self._step() as data:
            due = sorted(
                (
                    record
                    for record in data.schedules.values()
                    if not record.spec.paused
                    and record.next_fire_at is not None
                    and record.next_fire_at - timedelta(seconds=record.spec.lookahead_s) <= until
                ),
                key=lambda record: record.next_fire_at or until,
            )
            return [_schedule(data, record) for record in due[:limit]]

    def fire(self, firing: Firing) -> list[Job] | None:
        """Advance the schedule and write its occurrences, if its version is still current."""
        with self._step() as data:
            record = data.schedules.get(firing.schedule_id)
            if record is None or record.version != firing.version:
                return None  # another round (or an edit) got there first
            now = self._clock.now_utc()
            jobs = self._submit(data, firing.jobs, now)  # raises before any change
            record.next_fire_at, record.last_fire_at = firing.next_fire_at, firing.last_fire_at
            record.fired_count += len(firing.jobs)
            record.skipped_count += firing.skipped
            skips = data.schedule_skips.setdefault(record.id, [])
            skips += [
                ScheduleSkip(
                    schedule_id=record.id, fire_at=skip.fire_at, at=now, reason=skip.reason
                )
                for skip in firing.skips
            ]
            skips.sort(key=lambda skip: skip.fire_at)
            del skips[:-MAX_SKIPS_KEPT]
            record.version += 1
            record.updated_at = now
            if jobs:
                record.last_job_id = jobs[-1].id
            return jobs


def _stored(spec: ScheduleSpec) -> ScheduleSpec:
    """Return the spec as a store keeps it: through its JSON definition, as the SQL stores."""
    definition = json.loads(dump_json(spec.definition(), "the schedule"))
    return ScheduleSpec.from_definition(spec.name, spec.paused, definition)


def _find(data: MemoryData, ref: str) -> ScheduleRecord:
    record = data.schedules.get(ref)
    if record is not None:
        return record
    for record in data.schedules.values():
        if record.spec.name == ref:
            return record
    raise ScheduleNotFound(f"no schedule has the id or name {excerpt(ref)}")


def _schedule(data: MemoryData, record: ScheduleRecord) -> Schedule:
    last = None if record.last_job_id is None else data.jobs.get(record.last_job_id)
    return Schedule(
        id=record.id,
        spec=record.spec,
        next_fire_at=record.next_fire_at,
        last_fire_at=record.last_fire_at,
        last_job_id=record.last_job_id,
        last_job_state=None if last is None else last.state,
        last_job_stopping=last is not None and last.stopping,
        fired_count=record.fired_count,
        skipped_count=record.skipped_count,
        version=record.version,
        created_at=record.created_at,
        updated_at=record.updated_at,
    )


def _cancel_ahead(data: MemoryData, schedule_id: str, now: datetime, why: str) -> None:
    """Cancel the schedule's occurrences written ahead of their time."""
    ahead = sorted(
        (
            job
            for job in (data.jobs[job_id] for job_id in data.pending)
            if job.schedule_id == schedule_id and job.run_at > now
        ),
        key=lambda job: job.id,
    )
    for job in ahead:
        job = data.change(job, now, state=JobState.CANCELLED, finished_at=now)
        data.log(job, EventKind.CANCELLED, now, why)
