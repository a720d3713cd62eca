"""The Store contract, part three: cancel, retry, update, the log, deadlines, retention,
and the worker registry."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidTransition, JobNotFound
from rota.jobs import JobState
from rota.retry import Backoff
from rota.store import JobChanges, JobQuery, Store, WorkerInfo

from .helpers import TASK, claim, claim_one, lease_of, spec, submit_one

MISSING = "01890000-0000-7000-8000-000000000000"


async def test_cancel_a_pending_job(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store)
    clock.advance(1)
    cancelled = await store.cancel(job.id)
    assert cancelled.state is JobState.CANCELLED
    assert cancelled.finished_at == clock.now_utc()
    assert await claim(store) == []


async def test_cancel_a_finished_job_is_refused(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store)
    await store.complete(lease_of(job), None)
    with pytest.raises(InvalidTransition):
        await store.cancel(job.id)
    cancelled = await submit_one(store)
    await store.cancel(cancelled.id)
    with pytest.raises(InvalidTransition):
        await store.cancel(cancelled.id)
    with pytest.raises(JobNotFound):
        await store.cancel(MISSING)


async def test_retry_starts_a_fresh_round(store: Store, clock: ManualClock) -> None:
    await submit_one(store, max_attempts=1)
    job = await claim_one(store)
    failed = await store.fail(lease_of(job), error="boom", traceback="tb")
    assert failed.state is JobState.FAILED
    clock.advance(60)
    retried = await store.retry(job.id)
    assert retried.state is JobState.PENDING
    assert (retried.error, retried.traceback, retried.result) == (None, None, None)
    # Attempts keep counting: the new round's first claim is attempt 2, with one claim left.
    assert (retried.attempt, retried.prior_attempts, retried.attempts_left) == (1, 1, 1)
    assert retried.run_at == clock.now_utc()
    assert retried.finished_at is None
    again = await claim_one(store)
    assert again.id == job.id and (again.attempt, again.attempts_left) == (2, 0)


async def test_every_attempt_keeps_its_own_number_across_retries(
    store: Store, clock: ManualClock
) -> None:
    policy = Backoff(base_s=10, factor=2, max_s=300, jitter=0)
    job = await submit_one(store, max_attempts=3, backoff=policy)
    for _ in range(3):
        claimed = await claim_one(store)
        await store.fail(lease_of(claimed), error=f"boom {claimed.attempt}")
        clock.advance(1000)
    assert (await store.get_job(job.id)).state is JobState.FAILED
    retried = await store.retry(job.id)
    assert (retried.attempt, retried.attempts_left, retried.last_attempt) == (3, 3, 6)
    fourth = await claim_one(store)
    assert (fourth.attempt, fourth.round_attempt) == (4, 1)
    failed = await store.fail(lease_of(fourth), error="boom 4")
    # The backoff counts within the round: the first retry of a round waits base_s.
    assert failed.state is JobState.PENDING
    assert failed.run_at == clock.now_utc() + timedelta(seconds=10)
    clock.advance(10)
    fifth = await claim_one(store)
    released = await store.release(lease_of(fifth))  # the run keeps its number, 5
    assert (released.attempt, released.attempts_left, released.last_attempt) == (5, 2, 7)
    sixth = await claim_one(store)
    events = await store.events(job.id)
    started = [(event.attempt, event.message) for event in events if event.kind == "started"]
    assert started == [
        (1, "attempt 1 of 3"),
        (2, "attempt 2 of 3"),
        (3, "attempt 3 of 3"),
        (4, "attempt 4 of 6"),
        (5, "attempt 5 of 6"),
        (6, "attempt 6 of 7"),
    ]
    assert sixth.round_attempt == 2
    failures = [event.attempt for event in events if event.kind in ("retrying", "failed")]
    assert failures == [1, 2, 3, 4]


async def test_retry_cancelled_and_expired_jobs(store: Store, clock: ManualClock) -> None:
    cancelled = await submit_one(store)
    await store.cancel(cancelled.id)
    assert (await store.retry(cancelled.id)).state is JobState.PENDING
    expired = await submit_one(store, deadline_at=clock.now_utc() + timedelta(seconds=1))
    clock.advance(1)
    await store.expire_overdue()
    assert (await store.retry(expired.id)).state is JobState.PENDING


async def test_retry_refuses_live_and_succeeded_jobs(store: Store) -> None:
    pending = await submit_one(store)
    with pytest.raises(InvalidTransition):
        await store.retry(pending.id)
    job = await claim_one(store)
    with pytest.raises(InvalidTransition):
        await store.retry(job.id)
    await store.complete(lease_of(job), None)
    with pytest.raises(InvalidTransition):
        await store.retry(job.id)
    with pytest.raises(JobNotFound):
        await store.retry(MISSING)


async def test_update_a_pending_job(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store, args=[1], kwargs={"a": 1}, priority=1)
    later = clock.now_utc() + timedelta(minutes=3)
    changed = await store.update(job.id, JobChanges(run_at=later, priority=7))
    assert (changed.run_at, changed.priority, changed.args, changed.kwargs) == (
        later,
        7,
        [1],
        {"a": 1},
    )
    changed = await store.update(job.id, JobChanges(args=[], kwargs={"b": [2]}))
    assert (changed.args, changed.kwargs, changed.priority) == ([], {"b": [2]}, 7)
    assert await store.get_job(job.id) == changed
    assert [e.kind for e in await store.events(job.id)].count("updated") == 2


async def test_update_refuses_other_states(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store)
    with pytest.raises(InvalidTransition):
        await store.update(job.id, JobChanges(priority=3))
    with pytest.raises(JobNotFound):
        await store.update(MISSING, JobChanges(priority=3))


async def test_events_tell_a_whole_life_in_order(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store, max_attempts=3, backoff=Backoff(base_s=1, jitter=0))
    first = await claim_one(store, "w1", lease_s=5)
    await store.report_progress(lease_of(first), 0.5, "halfway")
    await store.fail(lease_of(first), error="boom")
    clock.advance(1)
    second = await claim_one(store, "w2", lease_s=5)
    clock.advance(5)
    await store.reap()
    clock.advance(2)
    third = await claim_one(store, "w3")
    await store.release(lease_of(third))
    third = await claim_one(store, "w3")
    await store.complete(lease_of(third), "ok")
    events = await store.events(job.id)
    assert [e.kind for e in events] == [
        "submitted",
        "started",
        "progress",
        "retrying",
        "started",
        "reaped",
        "retrying",
        "started",
        "released",
        "started",
        "succeeded",
    ]
    assert [e.attempt for e in events] == [0, 1, 1, 1, 2, 2, 2, 3, 3, 4, 4]
    assert events[3].message is not None and "boom" in events[3].message
    assert events[4].worker == second.worker == "w2"
    ids = [e.id or 0 for e in events]
    assert ids == sorted(ids)
    assert [e.at for e in events] == sorted(e.at for e in events)
    tail = await store.events(job.id, after_id=ids[-3])
    assert [e.kind for e in tail] == ["started", "succeeded"]
    assert len(await store.events(job.id, limit=4)) == 4
    with pytest.raises(JobNotFound):
        await store.events(MISSING)


async def test_deadlines_expire_pending_jobs(store: Store, clock: ManualClock) -> None:
    soon = await submit_one(store, deadline_at=clock.now_utc() + timedelta(seconds=5))
    later = await submit_one(store, deadline_at=clock.now_utc() + timedelta(seconds=50))
    await submit_one(store)
    assert await store.expire_overdue() == []
    clock.advance(5)
    expired = await store.expire_overdue()
    assert [job.id for job in expired] == [soon.id]
    assert expired[0].state is JobState.EXPIRED and expired[0].finished_at == clock.now_utc()
    assert (await store.get_job(later.id)).state is JobState.PENDING
    assert [e.kind for e in await store.events(soon.id)] == ["submitted", "expired"]
    assert await store.expire_overdue() == []


async def test_a_started_job_does_not_expire(store: Store, clock: ManualClock) -> None:
    await submit_one(store, deadline_at=clock.now_utc() + timedelta(seconds=5))
    job = await claim_one(store)
    clock.advance(10)
    assert await store.expire_overdue() == []
    assert (await store.get_job(job.id)).state is JobState.RUNNING


async def test_purge_deletes_old_finished_jobs_only(store: Store, clock: ManualClock) -> None:
    old_done = await submit_one(store)
    old_cancelled = await submit_one(store)
    await store.cancel(old_cancelled.id)
    job = await claim_one(store)
    assert job.id == old_done.id
    await store.complete(lease_of(job), None)
    clock.advance(100)
    cutoff = clock.now_utc()
    still_pending = await submit_one(store)
    await claim_one(store)
    new_done = await submit_one(store)
    await store.cancel(new_done.id)
    assert await store.purge(cutoff) == 2
    for gone in (old_done, old_cancelled):
        with pytest.raises(JobNotFound):
            await store.get_job(gone.id)
        with pytest.raises(JobNotFound):
            await store.events(gone.id)
    remaining = {job.id for job in (await store.list_jobs(JobQuery())).jobs}
    assert still_pending.id in remaining and new_done.id in remaining
    assert len(remaining) == 2
    assert await store.purge(cutoff) == 0


async def test_worker_registry(store: Store, clock: ManualClock) -> None:
    assert await store.list_workers() == []
    await store.register_worker(
        WorkerInfo(name="b", queues=["default"], tags=["gpu"], tasks=[TASK, "x.y"], capacity=4)
    )
    await store.register_worker(WorkerInfo(name="a", queues=["q"], tasks=["z.z"], server="s1"))
    [a, b] = await store.list_workers()
    assert (a.name, b.name) == ("a", "b")
    assert (b.queues, b.tags, b.tasks, b.capacity, b.state) == (
        ["default"],
        ["gpu"],
        [TASK, "x.y"],
        4,
        "online",
    )
    assert a.server == "s1" and a.connected_at == a.last_seen_at == clock.now_utc()
    assert await store.known_tasks() == {TASK, "x.y", "z.z"}

    clock.advance(5)
    resources = {"cpu_percent": 12.5, "gpus": []}
    await store.worker_seen("b", running=3, state="draining", resources=resources)
    await store.worker_gone("a")
    [first, second] = await store.list_workers()
    assert first.name == "b"  # not offline, so listed first
    assert (first.running, first.state, first.resources) == (3, "draining", resources)
    assert first.last_seen_at == clock.now_utc()
    assert second.state == "offline"
    assert await store.known_tasks() == {TASK, "x.y", "z.z"}  # offline ones still count

    await store.register_worker(WorkerInfo(name="a", queues=["q2"], tasks=[]))
    workers = {w.name: w for w in await store.list_workers()}
    assert workers["a"].state == "online" and workers["a"].queues == ["q2"]
    assert await store.known_tasks() == {TASK, "x.y"}


async def test_purge_forgets_long_offline_workers(store: Store, clock: ManualClock) -> None:
    await store.register_worker(WorkerInfo(name="old", queues=["default"]))
    await store.register_worker(WorkerInfo(name="live", queues=["default"]))
    await store.worker_gone("old")
    clock.advance(100)
    await store.worker_seen("live", running=0, state="online", resources={})
    await store.purge(clock.now_utc())
    assert [w.name for w in await store.list_workers()] == ["live"]


async def test_now_is_the_store_clock(store: Store, clock: ManualClock) -> None:
    assert await store.now() == clock.now_utc()
    clock.advance(30)
    assert await store.now() == clock.now_utc()


async def test_bulk_submissions_keep_their_own_order(store: Store) -> None:
    jobs = await store.submit([spec(priority=n % 3, args=[n]) for n in range(30)])
    claimed = await claim(store, limit=30)
    expected = sorted(jobs, key=lambda job: (-job.priority, job.args[0]))
    assert [job.id for job in claimed] == [job.id for job in expected]
