"""The Store contract, ahead of time: a worker with a horizon (a device) may claim jobs
targeted at it before their run_at; nothing else changes for anyone."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidTransition, StaleLease
from rota.jobs import JobState
from rota.store import AcquireRequest, Store
from rota.store.base import JobChanges

from .helpers import claim, lease_of, submit_one

DEVICE_TAGS = ("device", "device:laptop")


def _in(clock: ManualClock, seconds: float) -> object:
    return clock.now_utc() + timedelta(seconds=seconds)


async def test_a_device_claims_targeted_jobs_within_its_horizon(
    store: Store, clock: ManualClock
) -> None:
    by_name = await submit_one(store, run_at=_in(clock, 300), target="device:laptop")
    by_tag = await submit_one(store, run_at=_in(clock, 500), target="device")
    beyond = await submit_one(store, run_at=_in(clock, 700), target="device:laptop")
    claimed = await claim(store, "laptop", tags=DEVICE_TAGS, limit=10, horizon_s=600)
    assert [job.id for job in claimed] == [by_name.id, by_tag.id]
    assert all(job.attempt == 1 and job.worker == "laptop" for job in claimed)
    clock.advance(100)
    [later] = await claim(store, "laptop", tags=DEVICE_TAGS, limit=10, horizon_s=600)
    assert later.id == beyond.id


async def test_without_a_horizon_or_a_target_nothing_is_claimed_early(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store, run_at=_in(clock, 60), target="device:laptop")
    untargeted = await submit_one(store, run_at=_in(clock, 60))
    assert await claim(store, "laptop", tags=DEVICE_TAGS, limit=10) == []
    assert await claim(store, "other", limit=10, horizon_s=600) == []
    clock.advance(60)
    [due] = await claim(store, "other", limit=10)
    assert due.id == untargeted.id


async def test_a_horizon_never_reaches_another_devices_jobs(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store, run_at=_in(clock, 30), target="device:phone")
    assert await claim(store, "laptop", tags=DEVICE_TAGS, limit=10, horizon_s=600) == []


async def test_a_passed_deadline_still_stops_an_early_claim(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(
        store, run_at=_in(clock, 30), deadline_at=_in(clock, 40), target="device:laptop"
    )
    clock.advance(41)
    assert await claim(store, "laptop", tags=DEVICE_TAGS, limit=10, horizon_s=600) == []


async def test_acquire_many_honours_each_requests_horizon(store: Store, clock: ManualClock) -> None:
    early = await submit_one(store, run_at=_in(clock, 120), target="device")
    requests = [
        AcquireRequest(worker="plain", queues=("default",), tags=("device",), limit=5),
        AcquireRequest(
            worker="laptop", queues=("default",), tags=DEVICE_TAGS, limit=5, horizon_s=600
        ),
    ]
    plain, laptop = await store.acquire_many(requests)
    assert plain == [] and [job.id for job in laptop] == [early.id]


async def test_next_run_at_looks_past_a_horizon(store: Store, clock: ManualClock) -> None:
    await submit_one(store, run_at=_in(clock, 100), target="device")
    far = _in(clock, 900)
    await submit_one(store, run_at=far, target="device")
    assert await store.next_run_at(ahead_s=600) == far
    assert await store.next_run_at(ahead_s=1000) is None
    assert await store.next_run_at() == _in(clock, 100)


async def test_a_reminder_given_back_early_keeps_its_time(store: Store, clock: ManualClock) -> None:
    due_at = _in(clock, 300)
    job = await submit_one(store, run_at=due_at, target="device")
    [held] = await claim(store, "laptop", tags=DEVICE_TAGS, horizon_s=600)
    clock.advance(10)
    released = await store.release(lease_of(held))
    assert released.state is JobState.PENDING and released.run_at == due_at
    assert released.attempts_left == job.attempts_left  # the claim did not count


async def test_an_edit_takes_a_held_job_back_and_fences_its_holder(
    store: Store, clock: ManualClock
) -> None:
    job = await submit_one(store, run_at=_in(clock, 300), target="device:laptop", kwargs={"a": 1})
    [held] = await claim(store, "laptop", tags=DEVICE_TAGS, horizon_s=600)
    moved_to = _in(clock, 400)
    edited = await store.update(job.id, JobChanges(run_at=moved_to, kwargs={"a": 2}))
    assert (edited.state, edited.run_at, edited.kwargs) == (JobState.PENDING, moved_to, {"a": 2})
    assert edited.lease_token is None and edited.attempts_left == job.attempts_left
    with pytest.raises(StaleLease):
        await store.complete(lease_of(held), "the old version rang")
    [again] = await claim(store, "laptop", tags=DEVICE_TAGS, horizon_s=600)
    assert again.attempt == held.attempt + 1 and again.kwargs == {"a": 2}
    assert [event.kind for event in await store.events(job.id)][-2:] == ["updated", "started"]


async def test_a_due_running_job_still_cannot_be_edited(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store, run_at=_in(clock, 30), target="device:laptop")
    await claim(store, "laptop", tags=DEVICE_TAGS, horizon_s=600)
    clock.advance(30)
    with pytest.raises(InvalidTransition):
        await store.update(job.id, JobChanges(priority=5))
    assert (await store.get_job(job.id)).state is JobState.RUNNING


async def test_a_device_gone_before_the_due_moment_costs_no_attempt(
    store: Store, clock: ManualClock
) -> None:
    due_at = _in(clock, 300)
    job = await submit_one(store, run_at=due_at, target="device")
    for _ in range(job.max_attempts + 2):  # more often than it has attempts
        [held] = await claim(store, "laptop", tags=DEVICE_TAGS, horizon_s=600, lease_s=5)
        clock.advance(5)
        [reaped] = await store.reap()
        assert (reaped.state, reaped.run_at) == (JobState.PENDING, due_at)
        assert reaped.attempts_left == job.attempts_left
        with pytest.raises(StaleLease):
            await store.complete(lease_of(held), "too late")
    kinds = [event.kind for event in await store.events(job.id)]
    assert kinds[-3:] == ["started", "reaped", "released"]


async def test_a_device_gone_after_the_due_moment_costs_the_attempt(
    store: Store, clock: ManualClock
) -> None:
    job = await submit_one(store, run_at=_in(clock, 3), target="device")
    await claim(store, "laptop", tags=DEVICE_TAGS, horizon_s=600, lease_s=5)
    clock.advance(5)
    [reaped] = await store.reap()
    assert reaped.state is JobState.PENDING
    assert reaped.attempts_left == job.attempts_left - 1
