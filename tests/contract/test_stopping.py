"""The Store contract, stopping: an attempt asked to stop keeps its lease until its code stopped.

A job cancelled while it runs is cancelled at once, but its worker holds the lease until it
says the attempt's code has stopped (release) or the lease runs out; until then the job is
stopping, cannot be retried, and its token can only extend and release the lease.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidTransition, JobNotFound, JobStopping, StaleLease
from rota.jobs import JobState, Lease
from rota.store import Store

from .helpers import claim_one, lease_of, submit_one


async def test_cancelling_a_running_job_keeps_its_lease_until_the_code_stopped(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store)
    job = await claim_one(store, "w1")
    clock.advance(1)
    cancelled = await store.cancel(job.id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.stopping and cancelled.stop_requested_at == clock.now_utc()
    assert cancelled.lease_token == job.lease_token
    assert cancelled.finished_at == clock.now_utc()
    assert cancelled.to_dict()["stopping"] is True
    event = (await store.events(job.id))[-1]
    assert event.kind == "cancelled" and "w1" in (event.message or "")

    # The token can no longer settle the job, only hold and end its lease.
    with pytest.raises(StaleLease):
        await store.complete(lease_of(job), "too late")
    with pytest.raises(StaleLease):
        await store.fail(lease_of(job), error="too late")
    with pytest.raises(StaleLease):
        await store.report_progress(lease_of(job), 0.5)
    clock.advance(5)
    assert await store.extend("w1", [job.lease_token or ""], 30) == {
        job.lease_token: JobState.CANCELLED
    }
    held = await store.get_job(job.id)
    assert held.lease_expires_at == clock.now_utc() + timedelta(seconds=30)

    with pytest.raises(JobStopping) as refused:
        await store.retry(job.id)
    assert isinstance(refused.value, InvalidTransition)
    assert "stopping" in refused.value.message and "w1" in refused.value.message

    clock.advance(1)
    stopped = await store.release(lease_of(job))
    assert stopped.state is JobState.CANCELLED
    assert not stopped.stopping and stopped.lease_token is None
    assert stopped.lease_expires_at is None
    assert (await store.events(job.id))[-1].kind == "stopped"
    with pytest.raises(StaleLease):
        await store.release(lease_of(job))
    assert await store.extend("w1", [job.lease_token or ""], 30) == {}

    retried = await store.retry(job.id)
    assert retried.state is JobState.PENDING and not retried.stopping


async def test_cancelling_a_pending_job_stops_nothing(store: Store) -> None:
    job = await submit_one(store)
    cancelled = await store.cancel(job.id)
    assert not cancelled.stopping and cancelled.lease_token is None
    assert (await store.retry(job.id)).state is JobState.PENDING


async def test_a_stopping_lease_that_runs_out_is_reaped_without_a_retry(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store, max_attempts=3)
    job = await claim_one(store, "w1", lease_s=10)
    await store.cancel(job.id)
    clock.advance(9)
    assert await store.reap() == []
    clock.advance(2)
    [reaped] = await store.reap()
    assert reaped.id == job.id and reaped.state is JobState.CANCELLED
    assert not reaped.stopping and reaped.lease_token is None
    assert (await store.events(job.id))[-1].kind == "reaped"
    assert await store.reap() == []
    assert (await store.retry(job.id)).state is JobState.PENDING


async def test_a_closed_connection_brings_stopping_leases_to_expire(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store)
    job = await claim_one(store, "gone", lease_s=60)
    await store.cancel(job.id)
    assert await store.expire_leases_of("gone", 2) == 1
    clock.advance(3)
    assert [reaped.id for reaped in await store.reap()] == [job.id]


async def test_report_stopping_marks_a_running_attempt_until_it_ends(
    store: Store, clock: ManualClock
) -> None:
    first = await submit_one(store)
    second = await submit_one(store)
    job = await claim_one(store, "w1")
    other = await claim_one(store, "w1")
    assert (job.id, other.id) == (first.id, second.id)
    clock.advance(2)
    marked = await store.report_stopping(lease_of(job), "timed out after 2s")
    assert marked.state is JobState.RUNNING and marked.stopping
    assert marked.stop_requested_at == clock.now_utc()
    event = (await store.events(job.id))[-1]
    assert (event.kind, event.message) == ("stopping", "timed out after 2s")
    clock.advance(5)
    again = await store.report_stopping(lease_of(job), "did not stop within 5s")
    assert again.stop_requested_at == marked.stop_requested_at  # the first request counts
    assert await store.extend("w1", [job.lease_token or ""], 30) == {
        job.lease_token: JobState.RUNNING
    }
    failed = await store.fail(lease_of(job), error="TimeoutError", retryable=False)
    assert failed.state is JobState.FAILED and not failed.stopping
    with pytest.raises(StaleLease):
        await store.report_stopping(lease_of(job), "late")

    await store.report_stopping(lease_of(other), "the worker is draining")
    released = await store.release(lease_of(other))
    assert released.state is JobState.PENDING and not released.stopping
    again_claimed = await claim_one(store, "w2")
    assert again_claimed.id == other.id and not again_claimed.stopping


async def test_report_stopping_on_a_cancelled_attempt_keeps_it_stopping(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store, "w1")
    cancelled = await store.cancel(job.id)
    reported = await store.report_stopping(lease_of(job), "did not stop within 10s")
    assert reported.state is JobState.CANCELLED
    assert reported.stop_requested_at == cancelled.stop_requested_at
    with pytest.raises(StaleLease):
        await store.report_stopping(Lease(job_id=job.id, token="x"), "no")


async def test_retention_keeps_a_job_whose_code_is_still_stopping(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store)
    job = await claim_one(store, "w1", lease_s=10_000)
    await store.cancel(job.id)
    clock.advance(100)
    assert await store.purge(clock.now_utc()) == 0
    await store.release(lease_of(job))
    assert await store.purge(clock.now_utc() + timedelta(seconds=1)) == 1
    with pytest.raises(JobNotFound):
        await store.get_job(job.id)
