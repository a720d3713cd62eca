"""Create, change, pause, resume and trigger schedules over any Store.

Every change reads the schedule, computes the new spec and next fire time, and writes them
with a compare-and-set on the version; if a scheduler round (or another client) got there
first, it reads again and retries.
"""

from __future__ import annotations

from dataclasses import replace
from datetime import datetime
from typing import Any, Final

from rota.errors import ScheduleChanged, ScheduleExists, ScheduleNotFound
from rota.jobs import Job
from rota.scheduling.model import TIMING_FIELDS, Schedule, ScheduleSpec
from rota.scheduling.planner import first_fire_at
from rota.store.base import Store

MAX_TRIES: Final = 5
NEXT_FIRE_TIMES: Final = 10


async def create(store: Store, spec: ScheduleSpec) -> Schedule:
    """Validate and insert a new schedule; it fires first at its next fire time after now."""
    spec.validate()
    now = await store.now()
    return await store.create_schedule(spec, first_fire_at(spec.trigger(), now))


async def change(store: Store, ref: str, **changes: Any) -> Schedule:
    """Change fields of a schedule's spec (by id or name) and return it.

    A change of when it fires (cron, interval_s, tz, start_at, end_at) or a resume moves the
    next fire time to the first one after now, never to an occurrence already written.
    """
    for attempt in range(1, MAX_TRIES + 1):
        current = await store.get_schedule(ref)
        spec = current.spec.changed(**changes).validate()
        try:
            return await _write(store, current, spec)
        except ScheduleChanged:
            if attempt == MAX_TRIES:
                raise
    raise AssertionError("unreachable")  # pragma: no cover


async def upsert(store: Store, spec: ScheduleSpec) -> tuple[Schedule, bool]:
    """Create the schedule, or bring the one of that name up to this spec; return it and
    whether it was created. Idempotent: the same spec again changes nothing. A schedule
    paused by an operator stays paused."""
    spec.validate()
    for attempt in range(1, MAX_TRIES + 1):
        try:
            current = await store.get_schedule(spec.name)
        except ScheduleNotFound:
            try:
                return await create(store, spec), True
            except ScheduleExists:
                continue  # declared at the same moment elsewhere: update that one
        wanted = replace(spec, paused=current.spec.paused)
        if wanted == current.spec:
            return current, False
        try:
            return await _write(store, current, wanted), False
        except ScheduleChanged:
            if attempt == MAX_TRIES:
                raise
    raise ScheduleChanged(f"schedule {spec.name!r} kept changing; try again")


async def pause(store: Store, ref: str) -> Schedule:
    """Pause the schedule: no occurrence fires, and those written ahead are cancelled."""
    return await change(store, ref, paused=True)


async def resume(store: Store, ref: str) -> Schedule:
    """Resume the schedule from its next fire time after now (nothing missed is run)."""
    return await change(store, ref, paused=False)


async def delete(store: Store, ref: str) -> Schedule:
    """Remove the schedule (by id or name) and return it as it was."""
    current = await store.get_schedule(ref)
    return await store.delete_schedule(current.id)


async def trigger_now(store: Store, ref: str) -> Job:
    """Submit one run of the schedule's task now, outside its timing (overlap ignored)."""
    current = await store.get_schedule(ref)
    now = await store.now()
    spec = replace(current.spec.job_spec(current.id, now, now), idempotency_key=None)
    [job] = await store.submit([spec])
    return job


def next_fire_times(
    schedule: Schedule, now: datetime, count: int = NEXT_FIRE_TIMES
) -> list[datetime]:
    """Return the schedule's next `count` fire times after now (none while it is paused)."""
    if schedule.spec.paused or schedule.next_fire_at is None:
        return []
    trigger = schedule.spec.trigger()
    times: list[datetime] = []
    moment = first_fire_at(trigger, now)
    while moment is not None and len(times) < count:
        times.append(moment)
        moment = trigger.next_after(moment)
    return times


async def _write(store: Store, current: Schedule, spec: ScheduleSpec) -> Schedule:
    next_fire_at = current.next_fire_at
    timing_changed = any(
        getattr(current.spec, name) != getattr(spec, name) for name in TIMING_FIELDS
    )
    resumed = current.spec.paused and not spec.paused
    if timing_changed or resumed:
        now = await store.now()
        next_fire_at = first_fire_at(spec.trigger(), now, after=current.last_fire_at)
    return await store.update_schedule(
        current.id, version=current.version, spec=spec, next_fire_at=next_fire_at
    )
