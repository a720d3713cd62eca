"""Schedules in the store: each occurrence written once, on time, under every policy."""

from __future__ import annotations

import asyncio
import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import ScheduleChanged, ScheduleExists, ScheduleNotFound
from rota.jobs import Job, JobState
from rota.scheduling import admin
from rota.scheduling.model import Misfire, Overlap, ScheduleSpec
from rota.scheduling.planner import plan
from rota.server.scheduler import Scheduler
from rota.store import JobQuery, Store
from tests.contract.conftest import OpenStore
from tests.contract.helpers import claim_one, lease_of

TASK = "tests.tick"


def every(name: str = "tick", **fields: object) -> ScheduleSpec:
    fields.setdefault("cron", "* * * * *")
    return ScheduleSpec(name=name, task=TASK, **fields)  # type: ignore[arg-type]


def scheduler(store: Store) -> Scheduler:
    return Scheduler(store=store, on_written=lambda: None, rng=random.Random(7))


async def fire_times(store: Store) -> list[datetime]:
    """Return the nominal fire time of every job a schedule wrote, in order."""
    keys = [job.idempotency_key for job in await jobs_of(store)]
    # A key is "schedule:<id>:<fire time>", and ids hold no colon.
    return sorted(datetime.fromisoformat(key.split(":", 2)[2]) for key in keys if key)


async def jobs_of(store: Store) -> list[Job]:
    page = await store.list_jobs(JobQuery(limit=1000))
    return sorted((job for job in page.jobs if job.schedule_id), key=lambda job: job.run_at)


async def test_create_read_list_and_names_are_unique(store: Store) -> None:
    created = await admin.create(store, every())
    assert created.version == 1 and created.name == "tick"
    assert created.next_fire_at == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    assert (await store.get_schedule(created.id)).spec == created.spec
    assert (await store.get_schedule("tick")).id == created.id
    assert [s.name for s in await store.list_schedules()] == ["tick"]
    with pytest.raises(ScheduleExists):
        await admin.create(store, every(interval_s=5, cron=None))
    with pytest.raises(ScheduleNotFound):
        await store.get_schedule("nope")


async def test_a_round_is_written_once_even_when_replayed(store: Store, clock: ManualClock) -> None:
    schedule = await admin.create(store, every())
    clock.advance(59)
    firing = plan(schedule, clock.now_utc(), lookahead_s=3, grace_s=1, rng=random.Random())
    assert firing is not None and len(firing.jobs) == 1
    jobs = await store.fire_schedule(firing)
    assert jobs is not None and jobs[0].run_at == datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    assert jobs[0].schedule_id == schedule.id
    assert await store.fire_schedule(firing) is None  # the version moved on
    after = await store.get_schedule(schedule.id)
    assert after.next_fire_at == datetime(2030, 1, 1, 0, 2, tzinfo=UTC)
    assert after.fired_count == 1 and after.last_job_id == jobs[0].id
    assert len(await jobs_of(store)) == 1


async def test_an_occurrence_written_again_after_an_edit_is_no_conflict(
    store: Store, clock: ManualClock
) -> None:
    schedule = await admin.create(store, every(args=[1]))
    clock.advance(59)
    firing = plan(schedule, clock.now_utc(), lookahead_s=3, grace_s=1, rng=random.Random())
    assert firing is not None
    [written] = await store.fire_schedule(firing) or []
    changed = await store.get_schedule(schedule.id)
    edited = replace(changed.spec, args=[2], priority=7)
    # The same occurrence key with other options: the scheduler must not be stopped by it.
    occurrence = edited.job_spec(schedule.id, written.run_at, written.run_at)
    assert occurrence.idempotency_key == written.idempotency_key
    again = replace(firing, version=changed.version, jobs=[occurrence])
    assert await store.fire_schedule(again) == [written]
    assert len(await jobs_of(store)) == 1


async def test_two_stores_racing_never_write_an_occurrence_twice(
    store: Store, open_store: OpenStore, clock: ManualClock
) -> None:
    other = await open_store()
    try:
        await admin.create(store, every(cron="* * * * * *"))
        first, second = scheduler(store), scheduler(other)
        for _ in range(40):
            await asyncio.gather(*(s.fire_once() for s in (first, second, first, second)))
            clock.advance(0.5)
        times = await fire_times(store)
        assert len(times) == len(set(times))
        start = datetime(2030, 1, 1, 0, 0, 1, tzinfo=UTC)
        assert times == [start + timedelta(seconds=n) for n in range(len(times))]
        assert times[-1] >= clock.now_utc() + timedelta(seconds=2)  # written ahead
    finally:
        await other.close()


@pytest.mark.parametrize(
    ("misfire", "expected"),
    [(Misfire.SKIP, []), (Misfire.ONCE, [5]), (Misfire.ALL, [1, 2, 3, 4, 5])],
)
async def test_misfire_policies_after_five_minutes_down(
    store: Store, clock: ManualClock, misfire: Misfire, expected: list[int]
) -> None:
    created = await admin.create(store, every(misfire=misfire))
    clock.advance(5 * 60 + 30)  # nobody ran a round from 00:00 to 00:05:30
    await scheduler(store).fire_once()
    assert [moment.minute for moment in await fire_times(store)] == expected
    after = await store.get_schedule(created.id)
    assert after.next_fire_at == datetime(2030, 1, 1, 0, 6, tzinfo=UTC)


async def test_misfire_all_keeps_the_latest_up_to_its_limit(
    store: Store, clock: ManualClock
) -> None:
    await admin.create(store, every(cron="* * * * * *", misfire=Misfire.ALL, misfire_limit=10))
    clock.advance(3600)
    await scheduler(store).fire_once()
    times = await fire_times(store)
    missed = [t for t in times if t < clock.now_utc() - timedelta(seconds=1)]
    assert len(missed) == 10
    assert missed[-1] == clock.now_utc() - timedelta(seconds=2)


async def test_overlap_skip_waits_for_the_previous_run(store: Store, clock: ManualClock) -> None:
    await admin.create(store, every(cron=None, interval_s=10, overlap=Overlap.SKIP))
    loop = scheduler(store)
    clock.advance(10)
    assert (await loop.fire_once())[0] == 1
    job = await claim_one(store)
    clock.advance(10)
    assert (await loop.fire_once())[0] == 0  # the first is still running: skipped
    assert (await store.get_schedule("tick")).skipped_count == 1
    await store.complete(lease_of(job), None)
    clock.advance(10)
    assert (await loop.fire_once())[0] == 1


async def test_overlap_skip_waits_for_a_cancelled_run_to_stop(
    store: Store, clock: ManualClock
) -> None:
    await admin.create(store, every(cron=None, interval_s=10, overlap=Overlap.SKIP))
    loop = scheduler(store)
    clock.advance(10)
    assert (await loop.fire_once())[0] == 1
    job = await claim_one(store)
    await store.cancel(job.id)  # cancelled, but its code has not stopped yet
    assert (await store.get_schedule("tick")).last_job_stopping
    clock.advance(10)
    assert (await loop.fire_once())[0] == 0
    await store.release(lease_of(job))  # now it has
    clock.advance(10)
    assert (await loop.fire_once())[0] == 1


async def test_overlap_skip_is_not_written_ahead(store: Store, clock: ManualClock) -> None:
    await admin.create(store, every(cron=None, interval_s=10, overlap=Overlap.SKIP))
    clock.advance(9)
    assert (await scheduler(store).fire_once())[0] == 0


async def test_a_schedule_with_a_lookahead_is_written_that_far_ahead(
    store: Store, clock: ManualClock
) -> None:
    # Fires at 00:10 and 00:20; a device must hold each one 10 minutes ahead of it.
    ahead = every("ahead", cron="*/10 * * * *", lookahead_s=600)
    on_time = every("on-time", cron="*/10 * * * *")
    await admin.create(store, ahead)
    await admin.create(store, on_time)
    clock.advance(60)  # 00:01: only the one with a lookahead is due
    due = await store.due_schedules(clock.now_utc() + timedelta(seconds=4))
    assert [schedule.name for schedule in due] == ["ahead"]
    assert (await scheduler(store).fire_once())[0] == 1
    [job] = await jobs_of(store)
    assert job.run_at == datetime(2030, 1, 1, 0, 10, tzinfo=UTC)  # run_at stays the fire time
    clock.advance(60)  # 00:02: 00:20 is 18 minutes away, nothing more yet
    assert (await scheduler(store).fire_once())[0] == 0
    clock.advance(9 * 60)  # 00:11: 00:20 is 9 minutes away
    assert (await scheduler(store).fire_once())[0] == 2  # ahead's 00:20, on-time's 00:10 late
    assert (await store.get_schedule("ahead")).next_fire_at == datetime(
        2030, 1, 1, 0, 30, tzinfo=UTC
    )


async def test_pause_cancels_what_was_written_ahead_and_resume_skips_the_gap(
    store: Store, clock: ManualClock
) -> None:
    await admin.create(store, every(cron="* * * * * *"))
    loop = scheduler(store)
    await loop.fire_once()
    ahead = await jobs_of(store)
    assert ahead and all(job.run_at > clock.now_utc() for job in ahead)
    paused = await admin.pause(store, "tick")
    assert paused.spec.paused
    assert {job.state for job in await jobs_of(store)} == {JobState.CANCELLED}
    clock.advance(60)
    assert (await loop.fire_once())[0] == 0
    resumed = await admin.resume(store, "tick")
    assert resumed.next_fire_at == clock.now_utc() + timedelta(seconds=1)
    await loop.fire_once()
    pending = [job for job in await jobs_of(store) if job.state is JobState.PENDING]
    assert pending and min(job.run_at for job in pending) > clock.now_utc()


async def test_delete_removes_the_schedule_and_its_future_occurrences(
    store: Store, clock: ManualClock
) -> None:
    await admin.create(store, every(cron="* * * * * *"))
    await scheduler(store).fire_once()
    await admin.delete(store, "tick")
    with pytest.raises(ScheduleNotFound):
        await store.get_schedule("tick")
    assert {job.state for job in await jobs_of(store)} == {JobState.CANCELLED}


async def test_update_with_a_stale_version_is_refused(store: Store) -> None:
    created = await admin.create(store, every())
    await admin.change(store, "tick", args=[1])
    with pytest.raises(ScheduleChanged):
        await store.update_schedule(
            created.id, version=created.version, spec=created.spec, next_fire_at=None
        )
    changed = await admin.change(store, "tick", cron="*/5 * * * *")
    assert changed.next_fire_at == datetime(2030, 1, 1, 0, 5, tzinfo=UTC)
    assert changed.spec.args == [1] and changed.version == 3


async def test_interval_is_anchored_and_stops_at_end(store: Store, clock: ManualClock) -> None:
    start = clock.now_utc() + timedelta(seconds=7)
    end = start + timedelta(seconds=40)
    spec = every(cron=None, interval_s=20, start_at=start, end_at=end, misfire=Misfire.ALL)
    created = await admin.create(store, spec)
    assert created.next_fire_at == start
    clock.advance(60)
    await scheduler(store).fire_once()
    assert await fire_times(store) == [start + timedelta(seconds=s) for s in (0, 20, 40)]
    assert (await store.get_schedule("tick")).next_fire_at is None


async def test_daylight_saving_gap_fires_once_after_it(store: Store, clock: ManualClock) -> None:
    clock.advance((datetime(2030, 3, 30, 12, tzinfo=UTC) - clock.now_utc()).total_seconds())
    spec = every(cron="30 2 * * *", tz="Europe/Berlin", misfire=Misfire.ALL)
    created = await admin.create(store, spec)
    # 02:30 does not exist on 31 March 2030 in Berlin: it fires at 03:00 CEST (01:00 UTC).
    assert created.next_fire_at == datetime(2030, 3, 31, 1, 0, tzinfo=UTC)
    clock.advance(2 * 86400)
    await scheduler(store).fire_once()
    assert await fire_times(store) == [
        datetime(2030, 3, 31, 1, 0, tzinfo=UTC),
        datetime(2030, 4, 1, 0, 30, tzinfo=UTC),
    ]


async def test_jitter_and_deadline_shape_each_job(store: Store, clock: ManualClock) -> None:
    await admin.create(store, every(jitter_s=5, deadline_s=30))
    clock.advance(59)
    await scheduler(store).fire_once()
    [job] = await jobs_of(store)
    fire_at = datetime(2030, 1, 1, 0, 1, tzinfo=UTC)
    assert fire_at <= job.run_at <= fire_at + timedelta(seconds=5)
    assert job.deadline_at == fire_at + timedelta(seconds=30)
    assert job.idempotency_key == f"schedule:{job.schedule_id}:{fire_at.isoformat()}"


async def test_paused_at_creation_never_fires(store: Store, clock: ManualClock) -> None:
    await admin.create(store, replace(every(cron="* * * * * *"), paused=True))
    clock.advance(10)
    assert (await scheduler(store).fire_once())[0] == 0
