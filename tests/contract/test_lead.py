"""The Store contract, a moment ahead: a worker with a lead may claim any job due within it
(it holds the job and starts it at its run_at), and the job's record never says it started
before its run_at."""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidTransition, StaleLease
from rota.jobs import JobState
from rota.lifecycle import EDIT_MARGIN_S
from rota.store import AcquireRequest, Store
from rota.store.base import JobChanges

from .helpers import claim, lease_of, submit_one


def _in(clock: ManualClock, seconds: float) -> datetime:
    return clock.now_utc() + timedelta(seconds=seconds)


async def test_a_worker_with_a_lead_claims_any_job_due_within_it(
    store: Store, clock: ManualClock
) -> None:
    soon = await submit_one(store, run_at=_in(clock, 0.4))
    later = await submit_one(store, run_at=_in(clock, 0.8))
    [held] = await claim(store, limit=10, lead_s=0.5)
    assert held.id == soon.id and held.state is JobState.RUNNING
    # Its record says it starts at its run_at (the worker holds it until then), not at
    # the claim.
    assert held.started_at == soon.run_at
    clock.advance(0.3)
    [next_one] = await claim(store, limit=10, lead_s=0.5)
    assert next_one.id == later.id and next_one.started_at == later.run_at


async def test_without_a_lead_a_delayed_job_waits_for_its_moment(
    store: Store, clock: ManualClock
) -> None:
    job = await submit_one(store, run_at=_in(clock, 0.4))
    assert await claim(store, limit=10) == []
    clock.advance(0.5)
    [due] = await claim(store, limit=10, lead_s=0.5)
    assert due.id == job.id
    assert due.started_at == clock.now_utc()  # claimed after its run_at: started now


async def test_acquire_many_honours_each_requests_lead(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store, run_at=_in(clock, 1))
    requests = [
        AcquireRequest(worker="plain", queues=("default",), limit=5),
        AcquireRequest(worker="ahead", queues=("default",), limit=5, lead_s=2),
    ]
    plain, ahead = await store.acquire_many(requests)
    assert plain == [] and [held.id for held in ahead] == [job.id]


async def test_an_edit_takes_a_job_held_within_a_lead_back(
    store: Store, clock: ManualClock
) -> None:
    job = await submit_one(store, run_at=_in(clock, EDIT_MARGIN_S + 2), kwargs={"a": 1})
    [held] = await claim(store, lead_s=EDIT_MARGIN_S + 3)
    edited = await store.update(job.id, JobChanges(kwargs={"a": 2}))
    assert (edited.state, edited.lease_token) == (JobState.PENDING, None)
    assert edited.attempts_left == job.attempts_left
    with pytest.raises(StaleLease):
        await store.complete(lease_of(held), "the old version ran")


async def test_an_edit_too_close_to_a_held_jobs_start_is_refused_and_the_hold_stays(
    store: Store, clock: ManualClock
) -> None:
    """The holder could not hear of the edit before it starts the old version, and the
    edited job, claimable at once, would run beside it."""
    job = await submit_one(store, run_at=_in(clock, EDIT_MARGIN_S / 2), kwargs={"a": 1})
    [held] = await claim(store, lead_s=EDIT_MARGIN_S)
    with pytest.raises(InvalidTransition, match=r"cannot be changed.*cancel it"):
        await store.update(job.id, JobChanges(kwargs={"a": 2}))
    assert await claim(store, "another", lead_s=EDIT_MARGIN_S) == []
    clock.advance(EDIT_MARGIN_S)
    done = await store.complete(lease_of(held), "the only version ran")
    assert (done.state, done.kwargs) == (JobState.SUCCEEDED, {"a": 1})


async def test_a_job_held_within_a_lead_by_a_worker_that_died_goes_back_in_its_place(
    store: Store, clock: ManualClock
) -> None:
    due_at = _in(clock, 0.4)
    job = await submit_one(store, run_at=due_at)
    [held] = await claim(store, "doomed", lead_s=0.5, lease_s=5)
    clock.advance(5)  # the lease ran out after the run_at: the code may have started
    [reaped] = await store.reap()
    assert (reaped.state, reaped.run_at) == (JobState.PENDING, due_at)
    assert reaped.attempts_left == job.attempts_left - 1
    [again] = await claim(store, "survivor", limit=10)
    assert again.id == job.id and again.attempt == held.attempt + 1
    assert await claim(store, "survivor", limit=10) == []


async def test_a_job_held_within_a_lead_whose_lease_lapsed_before_its_time_costs_nothing(
    store: Store, clock: ManualClock
) -> None:
    due_at = _in(clock, 20)
    job = await submit_one(store, run_at=due_at)
    await claim(store, "doomed", lead_s=30, lease_s=5)
    clock.advance(5)
    [reaped] = await store.reap()
    assert (reaped.state, reaped.run_at) == (JobState.PENDING, due_at)
    assert reaped.attempts_left == job.attempts_left


async def test_the_started_event_of_a_job_claimed_ahead_says_so(
    store: Store, clock: ManualClock
) -> None:
    ahead = await submit_one(store, run_at=_in(clock, 0.4))
    [held] = await claim(store, lead_s=0.5)
    due = await submit_one(store)
    [now] = await claim(store, lead_s=0.5)
    [held_event] = [e for e in await store.events(ahead.id) if e.kind == "started"]
    [due_event] = [e for e in await store.events(due.id) if e.kind == "started"]
    assert held_event.at == held.updated_at < held.started_at
    assert held_event.message == "attempt 1 of 3; handed over ahead, its code starts at its run_at"
    assert due_event.message == "attempt 1 of 3" and now.started_at == due_event.at
