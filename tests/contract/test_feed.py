"""The change feed: every verb that changes jobs tells the feed, before it returns."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidTransition
from rota.jobs import JobState, Lease
from rota.store import AcquireRequest, Store
from rota.store.base import Success
from rota.store.feed import Change, JobChange
from tests.contract.helpers import claim_one, lease_of, spec, submit_one


class Heard:
    """A subscriber that keeps every job change it is told of."""

    def __init__(self, store: Store) -> None:
        self.changes: list[JobChange] = []
        store.feed.subscribe(self)

    def __call__(self, changes: Sequence[Change]) -> None:
        self.changes.extend(c for c in changes if isinstance(c, JobChange))

    def take(self) -> list[tuple[str, JobState, bool, bool]]:
        """Return (job id, state, leased, stopping) of each change since the last take."""
        taken = [(c.job_id, c.state, c.leased, c.stopping) for c in self.changes]
        self.changes.clear()
        return taken


async def test_each_change_is_told_before_the_verb_returns(store: Store) -> None:
    heard = Heard(store)
    job = await submit_one(store)
    assert heard.take() == [(job.id, JobState.PENDING, False, False)]
    claimed = await claim_one(store)
    [change] = heard.changes
    assert (change.worker, change.attempt, change.lease_token) == ("w1", 1, claimed.lease_token)
    assert heard.take() == [(job.id, JobState.RUNNING, True, False)]
    await store.cancel(job.id)
    assert heard.take() == [(job.id, JobState.CANCELLED, True, True)]
    await store.release(lease_of(claimed))
    assert heard.take() == [(job.id, JobState.CANCELLED, False, False)]
    await store.retry(job.id)
    assert heard.take() == [(job.id, JobState.PENDING, False, False)]
    await store.complete(lease_of(await claim_one(store)), 7)
    assert heard.take()[-1] == (job.id, JobState.SUCCEEDED, False, False)


async def test_failures_reaps_and_deadlines_are_told(store: Store, clock: ManualClock) -> None:
    heard = Heard(store)
    first = await submit_one(store, max_attempts=1)
    await store.fail(lease_of(await claim_one(store)), error="boom")
    assert heard.take()[-1] == (first.id, JobState.FAILED, False, False)
    second = await submit_one(store, max_attempts=2)
    await claim_one(store, lease_s=1.0)
    clock.advance(2)
    heard.take()
    assert [job.id for job in await store.reap()] == [second.id]
    [(job_id, state, leased, _)] = heard.take()
    assert (job_id, leased) == (second.id, False)
    assert state in (JobState.PENDING, JobState.FAILED)
    late = await submit_one(store, deadline_at=clock.now_utc() + timedelta(seconds=1))
    clock.advance(2)
    heard.take()
    await store.expire_overdue()
    assert heard.take() == [(late.id, JobState.EXPIRED, False, False)]


async def test_a_refused_change_tells_nothing(store: Store) -> None:
    heard = Heard(store)
    job = await submit_one(store)
    claimed = await claim_one(store)
    await store.complete(lease_of(claimed), None)
    heard.take()
    with pytest.raises(InvalidTransition):
        await store.cancel(job.id)
    assert heard.take() == []


async def test_batch_claims_and_settlements_are_told(store: Store) -> None:
    heard = Heard(store)
    first, second = await store.submit([spec(), spec()])
    request = AcquireRequest(worker="w1", queues=["default"], limit=1)
    claims = await store.acquire_many([request, replace(request, worker="w2")])
    assert heard.take()[-2:] == [
        (first.id, JobState.RUNNING, True, False),
        (second.id, JobState.RUNNING, True, False),
    ]
    [[one], [two]] = claims
    stale = Lease(job_id=two.id, token="stale")
    await store.settle([Success(lease=lease_of(one), result=1), Success(lease=stale)])
    assert heard.take() == [(first.id, JobState.SUCCEEDED, False, False)]
