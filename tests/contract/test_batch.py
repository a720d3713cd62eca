"""The Store contract, batches: many claims for many workers, many outcomes with their log
lines, each in one transaction, each item fenced on its own; and many submissions at once."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta, timezone

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidInput, StaleLease
from rota.jobs import Event, Job, JobState, Lease
from rota.retry import Backoff
from rota.store import AcquireRequest, Failure, JobQuery, Store, Success

from .helpers import claim, lease_of, spec, submit_one

NO_JITTER = Backoff(base_s=10, factor=2, max_s=300, jitter=0)


def request(worker: str, *queues: str, limit: int = 1, **fields: object) -> AcquireRequest:
    return AcquireRequest(
        worker=worker,
        queues=queues or ("default",),
        limit=limit,
        **fields,  # type: ignore[arg-type]
    )


async def test_acquire_many_serves_each_request_as_acquire_would(
    store: Store, clock: ManualClock
) -> None:
    mail = await store.submit([spec(queue="mail", args=[n]) for n in range(3)])
    video = await submit_one(store, queue="video")
    urgent = await submit_one(store, queue="mail", priority=5)
    served = await store.acquire_many(
        [
            request("w1", "mail", limit=2, lease_s=12),
            request("w2", "video", "mail", limit=5),
            request("w3", "mail", limit=0),
            request("w4", "nothing"),
        ]
    )
    assert [[job.id for job in jobs] for jobs in served] == [
        [urgent.id, mail[0].id],
        [mail[1].id, mail[2].id, video.id],
        [],
        [],
    ]
    first = served[0][0]
    assert (first.state, first.worker, first.attempt) == (JobState.RUNNING, "w1", 1)
    assert first.lease_expires_at == clock.now_utc() + timedelta(seconds=12)
    assert await store.get_job(first.id) == first
    started = [e for e in await store.events(first.id) if e.kind == "started"]
    assert [(e.worker, e.message) for e in started] == [("w1", "attempt 1 of 3")]
    assert await store.acquire_many([]) == []


async def test_acquire_many_with_a_bad_lease_claims_nothing(store: Store) -> None:
    await store.submit([spec(), spec()])
    with pytest.raises(InvalidInput):
        await store.acquire_many([request("w1"), request("w2", lease_s=0)])
    assert len(await claim(store, limit=5)) == 2


async def test_no_job_is_claimed_twice_by_concurrent_batches(store: Store) -> None:
    jobs = await store.submit([spec(args=[n]) for n in range(120)])
    batches = await asyncio.gather(
        *(store.acquire_many([request(f"w{n}-{m}", limit=4) for m in range(3)]) for n in range(12))
    )
    claimed = Counter(job.id for served in batches for jobs_ in served for job in jobs_)
    assert set(claimed) == {job.id for job in jobs}
    assert set(claimed.values()) == {1}


async def test_settle_applies_each_outcome_and_refuses_only_the_bad_ones(
    store: Store, clock: ManualClock
) -> None:
    await store.submit([spec(backoff=NO_JITTER, max_attempts=2 - (n == 3)) for n in range(6)])
    ok, retried, stale, final, not_json, cancelled = await claim(store, "w1", limit=6)
    await store.cancel(cancelled.id)
    clock.advance(2)
    lines = [
        Event(job_id=ok.id, attempt=1, at=clock.now_utc(), kind="log", worker="w1", message=m)
        for m in ("one", "two")
    ]
    answers = await store.settle(
        [
            Success(lease=lease_of(ok), result={"n": [1]}),
            Failure(lease=lease_of(retried), error="boom", traceback="tb"),
            Success(lease=Lease(job_id=stale.id, token="forged"), result=1),
            Failure(lease=lease_of(final), error="last"),
            Success(lease=lease_of(not_json), result=object()),  # type: ignore[arg-type]
            Success(lease=lease_of(cancelled), result="too late"),
            Success(lease=lease_of(ok), result="twice"),
        ],
        lines=lines,
    )
    assert len(answers) == 7
    done, again, refused, failed, invalid, late, duplicate = answers
    assert isinstance(done, Job) and done.state is JobState.SUCCEEDED
    assert done.result == {"n": [1]} and done.finished_at == clock.now_utc()
    assert isinstance(again, Job) and again.state is JobState.PENDING
    assert again.run_at == clock.now_utc() + timedelta(seconds=10) and again.error == "boom"
    assert isinstance(refused, StaleLease)
    assert isinstance(failed, Job) and failed.state is JobState.FAILED
    assert isinstance(invalid, InvalidInput)
    assert isinstance(late, StaleLease) and "cancelled" in late.message
    assert isinstance(duplicate, StaleLease)
    for answer in (done, again, failed):
        assert await store.get_job(answer.id) == answer
    assert (await store.get_job(stale.id)).state is JobState.RUNNING
    assert (await store.get_job(not_json.id)).state is JobState.RUNNING
    assert (await store.get_job(ok.id)).result == {"n": [1]}
    events = await store.events(ok.id)
    assert [e.kind for e in events][-3:] == ["succeeded", "log", "log"]
    assert [e.message for e in events if e.kind == "log"] == ["one", "two"]
    kinds = [e.kind for e in await store.events(retried.id)]
    assert kinds[-1] == "retrying"
    assert [e.kind for e in await store.events(final.id)][-1] == "failed"


async def test_settle_with_only_lines_or_nothing(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store)
    assert await store.settle([]) == []
    line = Event(job_id=job.id, attempt=0, at=clock.now_utc(), kind="log", message="hi")
    assert await store.settle([], lines=[line]) == []
    assert [e.message for e in await store.events(job.id) if e.kind == "log"] == ["hi"]


async def test_settle_many_at_once(store: Store) -> None:
    await store.submit([spec(args=[n]) for n in range(200)])
    jobs = await claim(store, "w1", limit=200)
    answers = await store.settle([Success(lease=lease_of(job), result=job.args) for job in jobs])
    assert all(isinstance(a, Job) and a.state is JobState.SUCCEEDED for a in answers)
    assert [a.result for a in answers if isinstance(a, Job)] == [job.args for job in jobs]
    page = await store.list_jobs(JobQuery(state=JobState.SUCCEEDED, limit=500))
    assert len(page.jobs) == 200


async def test_acquire_many_honours_each_requests_targets_and_tasks(store: Store) -> None:
    for_w1 = await submit_one(store, target="w1")
    for_gpu = await submit_one(store, target="gpu")
    other_task = await submit_one(store, task="t.other")
    anyone = await submit_one(store)
    served = await store.acquire_many(
        [
            request("w2", limit=5, tasks=["tests.work"]),  # not w1's, no gpu: only anyone
            request("w1", limit=5, tags=["gpu"]),
            request("w1", limit=5),
        ]
    )
    assert [[job.id for job in jobs] for jobs in served] == [
        [anyone.id],
        [for_w1.id, for_gpu.id, other_task.id],
        [],
    ]


async def test_acquire_many_confines_a_request_with_targets_to_them(store: Store) -> None:
    for_kitchen = await submit_one(store, target="device:kitchen")
    anyone = await submit_one(store)
    for_gpu = await submit_one(store, target="gpu")
    served = await store.acquire_many(
        [
            request("kitchen", limit=5, tags=["device:kitchen", "gpu"], targets=["kitchen"]),
            request("kitchen", limit=5, tags=["device:kitchen", "gpu"], targets=["gpu"]),
            request("w2", limit=5, tags=["device:kitchen"]),
        ]
    )
    assert [[job.id for job in jobs] for jobs in served] == [
        [],
        [for_gpu.id],
        [for_kitchen.id, anyone.id],
    ]


async def test_a_bulk_submission_returns_the_jobs_as_stored(
    store: Store, clock: ManualClock
) -> None:
    zone = timezone(timedelta(hours=2))
    specs = [
        spec(),
        spec(
            args=[1, "two", {"three": [3.5, None, True]}],
            kwargs={"é": "ü"},
            queue="mail",
            priority=-4,
            run_at=(clock.now_utc() + timedelta(minutes=5)).astimezone(zone),
            target="device:kitchen",
            max_attempts=7,
            backoff=Backoff(base_s=2, factor=3, max_s=60, jitter=0),
            timeout_s=30,
            deadline_at=clock.now_utc() + timedelta(hours=1),
            idempotency_key="order-1",
            schedule_id="sched-1",
        ),
        spec(
            idempotency_key="order-1",
            args=[1, "two", {"three": [3.5, None, True]}],
            kwargs={"é": "ü"},
            queue="mail",
            priority=-4,
            target="device:kitchen",
            max_attempts=7,
            backoff=Backoff(base_s=2, factor=3, max_s=60, jitter=0),
            timeout_s=30,
            schedule_id="sched-1",
        ),
        spec(timeout_s=1.5, args=[2**53 - 1]),
    ]
    jobs = await store.submit(specs)
    assert jobs[1] == jobs[2], "a repeated key in one list is the same job"
    for job in jobs:
        assert await store.get_job(job.id) == job
    again = await store.submit(specs)
    assert again[1] == again[2] == jobs[1], "the same keyed submission again: its job"
    assert again[0].id != jobs[0].id
