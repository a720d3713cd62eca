"""The Store contract, part one: submitting, claiming, listing."""

from __future__ import annotations

import asyncio
from collections import Counter
from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import IdempotencyConflict, InvalidInput, JobNotFound
from rota.jobs import JobState
from rota.retry import Backoff
from rota.store import JobQuery, Store, WorkerInfo

from .conftest import OpenStore
from .helpers import TASK, claim, claim_one, lease_of, spec, submit_one


async def test_submit_fills_defaults(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store)
    assert job.state is JobState.PENDING
    assert (job.task, job.args, job.kwargs, job.queue) == (TASK, [], {}, "default")
    assert (job.priority, job.max_attempts, job.attempt) == (0, 3, 0)
    assert job.run_at == job.created_at == clock.now_utc()
    assert job.backoff == Backoff()
    assert job.lease_token is None and job.worker is None and job.result is None
    assert await store.get_job(job.id) == job


async def test_submit_keeps_every_field(store: Store, clock: ManualClock) -> None:
    later = clock.now_utc() + timedelta(minutes=5)
    deadline = clock.now_utc() + timedelta(hours=1)
    backoff = Backoff(base_s=2, factor=3, max_s=60, jitter=0)
    job = await submit_one(
        store,
        args=[1, "two", {"three": [3.5]}],
        kwargs={"k": None},
        queue="mail",
        priority=-4,
        run_at=later,
        target="device:kitchen",
        max_attempts=7,
        backoff=backoff,
        timeout_s=1.5,
        deadline_at=deadline,
        idempotency_key="order-1",
        schedule_id="sched-1",
    )
    stored = await store.get_job(job.id)
    assert stored == job
    assert stored.args == [1, "two", {"three": [3.5]}] and stored.kwargs == {"k": None}
    assert (stored.queue, stored.priority, stored.target) == ("mail", -4, "device:kitchen")
    assert (stored.run_at, stored.deadline_at) == (later, deadline)
    assert (stored.max_attempts, stored.backoff, stored.timeout_s) == (7, backoff, 1.5)
    assert (stored.idempotency_key, stored.schedule_id) == ("order-1", "sched-1")


async def test_submit_returns_jobs_in_order_with_increasing_ids(store: Store) -> None:
    jobs = await store.submit([spec(args=[n]) for n in range(50)])
    assert [job.args for job in jobs] == [[n] for n in range(50)]
    ids = [job.id for job in jobs]
    assert ids == sorted(ids) and len(set(ids)) == 50


async def test_a_bulk_of_varied_jobs_is_returned_as_stored(
    store: Store, clock: ManualClock
) -> None:
    later = clock.now_utc() + timedelta(minutes=5)
    specs = [
        spec(),
        spec(args=[1, "two", {"three": [3.5]}], kwargs={"k": None}),
        spec(backoff=Backoff(base_s=2, factor=3, max_s=60, jitter=0), timeout_s=1.5),
        spec(run_at=later, deadline_at=later + timedelta(hours=1), idempotency_key="k-1"),
        spec(queue="mail", priority=-4, target="gpu", max_attempts=7),
        spec(),
        spec(args=[], kwargs={}, backoff=Backoff()),
    ]
    jobs = await store.submit(specs)
    assert [await store.get_job(job.id) for job in jobs] == jobs
    assert jobs[0] is not jobs[5] and jobs[0].args is not jobs[5].args
    for job in jobs:
        [event] = await store.events(job.id)
        assert (event.kind, event.attempt, event.worker, event.message) == (
            "submitted",
            0,
            None,
            None,
        )
        assert event.at == clock.now_utc()
    first_events = [(await store.events(job.id))[0].id for job in jobs]
    assert first_events == sorted(first_events)


async def test_unknown_job_is_not_found(store: Store) -> None:
    with pytest.raises(JobNotFound):
        await store.get_job("01890000-0000-7000-8000-000000000000")


async def test_failing_bulk_inserts_nothing(store: Store) -> None:
    specs = [spec(args=[1]), spec(args=[object()]), spec(args=[3])]
    with pytest.raises(InvalidInput):
        await store.submit(specs)
    page = await store.list_jobs(JobQuery())
    assert page.jobs == []


async def test_invalid_spec_is_refused(store: Store) -> None:
    with pytest.raises(InvalidInput):
        await store.submit([spec(max_attempts=0)])
    with pytest.raises(InvalidInput):
        await store.submit([spec(task="")])


async def test_idempotency_key_returns_the_first_job_of_the_same_submission(
    store: Store, clock: ManualClock
) -> None:
    first = await submit_one(store, idempotency_key="k1", args=[1], timeout_s=5)
    # A retry computes its run_at and deadline again: times are not part of "the same".
    later = clock.now_utc() + timedelta(seconds=30)
    again = await submit_one(
        store, idempotency_key="k1", args=[1], timeout_s=5.0, run_at=later, deadline_at=later
    )
    assert again == first and again.args == [1]
    assert len((await store.list_jobs(JobQuery())).jobs) == 1
    assert len(await store.events(first.id)) == 1  # one submitted event, not two


@pytest.mark.parametrize(
    "other",
    [
        {"args": [2]},
        {"kwargs": {"x": 1}},
        {"task": "tests.other"},
        {"queue": "elsewhere"},
        {"priority": 5},
        {"target": "w9"},
        {"max_attempts": 9},
        {"timeout_s": 6},
        {"backoff": Backoff(base_s=2)},
    ],
)
async def test_idempotency_key_of_another_submission_is_a_conflict(
    store: Store, other: dict[str, object]
) -> None:
    first = await submit_one(store, idempotency_key="k1", args=[1], timeout_s=5)
    with pytest.raises(IdempotencyConflict) as caught:
        await submit_one(store, **{"idempotency_key": "k1", "args": [1], "timeout_s": 5, **other})
    assert caught.value.status_code == 409
    assert f"idempotency_key 'k1' is held by job {first.id}" in caught.value.message
    assert [job.id for job in (await store.list_jobs(JobQuery())).jobs] == [first.id]


async def test_a_conflict_in_a_bulk_stores_nothing_of_it(store: Store) -> None:
    first = await submit_one(store, idempotency_key="old", args=[1])
    with pytest.raises(IdempotencyConflict):
        await store.submit([spec(idempotency_key="new"), spec(idempotency_key="old", args=[2])])
    with pytest.raises(IdempotencyConflict):
        await store.submit(
            [spec(), spec(idempotency_key="twice", args=[1]), spec(idempotency_key="twice")]
        )
    assert [job.id for job in (await store.list_jobs(JobQuery())).jobs] == [first.id]


async def test_a_key_given_twice_in_one_bulk_names_the_item_not_a_job_never_stored(
    store: Store,
) -> None:
    # The batch is not stored, so the job its first item would have made does not exist:
    # the conflict names the item of the batch, not that id.
    with pytest.raises(IdempotencyConflict) as caught:
        await store.submit(
            [spec(), spec(idempotency_key="twice", args=[1]), spec(idempotency_key="twice")]
        )
    message = caught.value.message
    assert message.startswith("jobs[2].idempotency_key 'twice' is also given to jobs[1]")
    assert "held by job" not in message
    assert (await store.list_jobs(JobQuery())).jobs == []


async def test_keys_repeated_in_one_bulk_make_one_job(store: Store) -> None:
    existing = await submit_one(store, idempotency_key="old")
    jobs = await store.submit(
        [spec(idempotency_key="new"), spec(idempotency_key="old"), spec(idempotency_key="new")]
    )
    assert jobs[0] == jobs[2]
    assert jobs[1] == existing
    assert len((await store.list_jobs(JobQuery())).jobs) == 2


async def test_acquire_orders_by_priority_then_run_at_then_submission(
    store: Store, clock: ManualClock
) -> None:
    now = clock.now_utc()
    low = await submit_one(store, priority=0, args=["low"])
    early = await submit_one(store, priority=5, run_at=now - timedelta(seconds=10), args=["a"])
    first = await submit_one(store, priority=5, args=["b"])
    second = await submit_one(store, priority=5, args=["c"])
    high = await submit_one(store, priority=9, args=["high"])
    claimed = await claim(store, limit=10)
    assert [job.id for job in claimed] == [high.id, early.id, first.id, second.id, low.id]


async def test_acquire_one_at_a_time_follows_the_same_order(
    store: Store, clock: ManualClock
) -> None:
    now = clock.now_utc()
    plain = await store.submit([spec(args=[n]) for n in range(3)])
    late_urgent = await submit_one(store, priority=2, args=["late"])
    early_urgent = await submit_one(store, priority=2, run_at=now - timedelta(seconds=1))
    claimed = [await claim_one(store) for _ in range(5)]
    expected = [early_urgent, late_urgent, *plain]
    assert [job.id for job in claimed] == [job.id for job in expected]


async def test_a_small_limit_takes_the_best_across_queues(store: Store) -> None:
    await store.submit([spec(queue="a", args=[n]) for n in range(5)])
    best_b = await submit_one(store, queue="b", priority=3)
    best_a = await submit_one(store, queue="a", priority=1)
    claimed = await claim(store, queues=("a", "b", "a"), limit=2)
    assert [job.id for job in claimed] == [best_b.id, best_a.id]


async def test_acquire_marks_the_claim(store: Store, clock: ManualClock) -> None:
    await submit_one(store)
    job = await claim_one(store, "w7", lease_s=12)
    assert job.state is JobState.RUNNING
    assert (job.attempt, job.worker) == (1, "w7")
    assert job.lease_token
    assert job.started_at == clock.now_utc()
    assert job.lease_expires_at == clock.now_utc() + timedelta(seconds=12)
    assert await store.get_job(job.id) == job


async def test_acquire_respects_limit_and_leaves_the_rest(store: Store) -> None:
    await store.submit([spec() for _ in range(5)])
    assert len(await claim(store, limit=3)) == 3
    assert len(await claim(store, limit=3)) == 2
    assert await claim(store, limit=3) == []


async def test_acquire_skips_future_jobs_until_due(store: Store, clock: ManualClock) -> None:
    await submit_one(store, run_at=clock.now_utc() + timedelta(seconds=60))
    assert await claim(store) == []
    clock.advance(59)
    assert await claim(store) == []
    clock.advance(1)
    assert len(await claim(store)) == 1


async def test_acquire_filters_by_queue(store: Store) -> None:
    mail = await submit_one(store, queue="mail")
    await submit_one(store, queue="video")
    claimed = await claim(store, queues=("mail", "other"), limit=5)
    assert [job.id for job in claimed] == [mail.id]
    assert await claim(store, queues=(), limit=5) == []


async def test_acquire_filters_by_task(store: Store) -> None:
    wanted = await submit_one(store, task="a.wanted")
    await submit_one(store, task="a.other")
    claimed = await claim(store, limit=5, tasks=["a.wanted"])
    assert [job.id for job in claimed] == [wanted.id]
    assert await claim(store, limit=5, tasks=[]) == []
    assert len(await claim(store, limit=5, tasks=None)) == 1


async def test_acquire_honours_targets(store: Store) -> None:
    for_name = await submit_one(store, target="w1")
    for_tag = await submit_one(store, target="device:kitchen")
    anyone = await submit_one(store)
    other = await submit_one(store, target="w2")
    got = await claim(store, "w3", limit=10, tags=["gpu"])
    assert [job.id for job in got] == [anyone.id]
    got = await claim(store, "w1", limit=10, tags=["device:kitchen"])
    assert {job.id for job in got} == {for_name.id, for_tag.id}
    got = await claim(store, "w2", limit=10)
    assert [job.id for job in got] == [other.id]


async def test_a_request_with_targets_claims_only_jobs_targeted_at_them(store: Store) -> None:
    """A worker whose token is bound (a device's) gets no untargeted job, nor one targeted
    at a tag or name it carries but was not bound to."""
    mine = await submit_one(store, target="device:kitchen")
    await submit_one(store)  # anyone's
    await submit_one(store, target="gpu")  # a tag it carries, outside its binding
    await submit_one(store, target="kitchen")  # its name, not a target it was given
    await submit_one(store, target="device:hall")
    got = await claim(
        store, "kitchen", limit=10, tags=["device:kitchen", "gpu"], targets=["device:kitchen"]
    )
    assert [job.id for job in got] == [mine.id]
    assert await claim(store, "kitchen", limit=10, tags=["gpu"], targets=[]) == []
    assert len(await claim(store, "w9", limit=10, tags=["gpu"])) == 2  # anyone's, gpu's


async def test_acquire_skips_jobs_past_their_deadline(store: Store, clock: ManualClock) -> None:
    await submit_one(store, deadline_at=clock.now_utc() + timedelta(seconds=5))
    clock.advance(5)
    assert await claim(store) == []


async def test_no_job_is_claimed_twice_under_concurrency(store: Store) -> None:
    jobs = await store.submit([spec(args=[n]) for n in range(200)])
    batches = await asyncio.gather(*(claim(store, f"w{n}", limit=15) for n in range(20)))
    claimed = Counter(job.id for batch in batches for job in batch)
    assert set(claimed) == {job.id for job in jobs}
    assert set(claimed.values()) == {1}
    tokens = [job.lease_token for batch in batches for job in batch]
    assert len(set(tokens)) == 200


async def test_concurrent_submissions_all_land_and_are_durable(
    store: Store, open_store: OpenStore
) -> None:
    async def submit(n: int) -> str:
        return (await submit_one(store, args=[n], idempotency_key=f"key-{n}")).id

    ids = await asyncio.gather(*(submit(n) for n in range(300)))
    assert len(set(ids)) == 300
    await store.close()
    reopened = await open_store()
    try:
        for n in (0, 150, 299):
            job = await reopened.get_job(ids[n])
            assert job.args == [n] and job.idempotency_key == f"key-{n}"
        page = await reopened.list_jobs(JobQuery(limit=500))
        assert len(page.jobs) == 300
    finally:
        await reopened.close()


async def test_everything_survives_a_reopen(
    store: Store, open_store: OpenStore, clock: ManualClock
) -> None:
    done = await submit_one(store, args=["done"])
    waiting = await submit_one(store, args=["waiting"], run_at=clock.now_utc() + timedelta(1))
    running = await submit_one(store, args=["running"])
    [first, second] = await claim(store, limit=2)
    assert {first.id, second.id} == {done.id, running.id}
    await store.complete(lease_of(first), {"ok": True})
    await store.register_worker(WorkerInfo(name="w1", queues=["default"], tasks=[TASK]))
    before = [await store.get_job(job.id) for job in (done, waiting, running)]
    events_before = await store.events(done.id)
    await store.close()

    reopened = await open_store()
    try:
        assert [await reopened.get_job(job.id) for job in before] == before
        assert await reopened.events(done.id) == events_before
        assert [w.name for w in await reopened.list_workers()] == ["w1"]
        assert await reopened.known_tasks() == {TASK}
        newer = await submit_one(reopened)
        assert newer.id > max(job.id for job in before)
    finally:
        await reopened.close()


async def test_list_jobs_pages_newest_first(store: Store) -> None:
    jobs = await store.submit([spec(args=[n]) for n in range(120)])
    seen: list[str] = []
    cursor = None
    while True:
        page = await store.list_jobs(JobQuery(limit=50, cursor=cursor))
        seen.extend(job.id for job in page.jobs)
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    assert seen == [job.id for job in reversed(jobs)]


async def test_list_jobs_filters(store: Store) -> None:
    await store.submit([spec(queue="a", args=[n]) for n in range(60)])
    await store.submit([spec(queue="b", task="t.other", args=[n]) for n in range(60)])
    keyed = await submit_one(store, queue="b", idempotency_key="find-me")
    running = await claim(store, "w9", queues=("a",), limit=7)

    async def all_pages(query: JobQuery) -> list[str]:
        ids: list[str] = []
        cursor = None
        while True:
            page = await store.list_jobs(
                JobQuery(
                    state=query.state,
                    queue=query.queue,
                    task=query.task,
                    worker=query.worker,
                    search=query.search,
                    limit=25,
                    cursor=cursor,
                )
            )
            ids.extend(job.id for job in page.jobs)
            assert ids == sorted(ids, reverse=True)
            if page.next_cursor is None:
                return ids
            cursor = page.next_cursor

    assert len(await all_pages(JobQuery(queue="a"))) == 60
    assert len(await all_pages(JobQuery(task="t.other"))) == 60
    assert len(await all_pages(JobQuery(state=JobState.RUNNING))) == 7
    assert set(await all_pages(JobQuery(worker="w9"))) == {job.id for job in running}
    assert len(await all_pages(JobQuery(state=JobState.PENDING, queue="a"))) == 53
    assert len(await all_pages(JobQuery(queue="b", task=TASK))) == 1
    assert await all_pages(JobQuery(search="find-me")) == [keyed.id]
    assert await all_pages(JobQuery(search=keyed.id)) == [keyed.id]
    assert await all_pages(JobQuery(search="nothing")) == []


async def test_queue_stats(store: Store, clock: ManualClock) -> None:
    await submit_one(store, queue="a")
    clock.advance(10)
    await store.submit([spec(queue="a"), spec(queue="a")])
    await submit_one(store, queue="a", run_at=clock.now_utc() + timedelta(seconds=30))
    await submit_one(store, queue="b")
    await claim(store, queues=("b",))
    clock.advance(2)
    stats = {entry.queue: entry for entry in await store.queue_stats()}
    assert set(stats) == {"a", "b"}
    a, b = stats["a"], stats["b"]
    assert (a.pending, a.due, a.running) == (4, 3, 0)
    assert a.oldest_due_age_s == pytest.approx(12)
    assert (b.pending, b.due, b.running, b.oldest_due_age_s) == (0, 0, 1, None)


async def test_next_run_at(store: Store, clock: ManualClock) -> None:
    assert await store.next_run_at() is None
    await submit_one(store)  # due now: not "not yet due"
    assert await store.next_run_at() is None
    soon = clock.now_utc() + timedelta(seconds=5)
    await submit_one(store, run_at=clock.now_utc() + timedelta(seconds=50))
    await submit_one(store, run_at=soon)
    assert await store.next_run_at() == soon
    clock.advance(5)
    assert await store.next_run_at() == soon + timedelta(seconds=45)


async def test_a_failing_write_does_not_undo_concurrent_ones(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store)
    stale = lease_of(job)
    await store.cancel(job.id)
    outcomes = await asyncio.gather(
        *(submit_one(store, args=[n]) for n in range(20)),
        store.complete(stale, "late"),
        store.submit([spec(args=[object()])]),
        *(submit_one(store, args=[n]) for n in range(20, 40)),
        return_exceptions=True,
    )
    errors = [type(o).__name__ for o in outcomes if isinstance(o, BaseException)]
    assert errors == ["StaleLease", "InvalidInput"]
    page = await store.list_jobs(JobQuery(state=JobState.PENDING, limit=100))
    assert sorted(j.args[0] for j in page.jobs) == list(range(40))


async def test_close_commits_writes_already_queued(store: Store, open_store: OpenStore) -> None:
    pending = [asyncio.ensure_future(submit_one(store, args=[n])) for n in range(50)]
    await asyncio.sleep(0)  # let every submission reach the store before it closes
    await store.close()
    ids = [task.result().id for task in pending]
    reopened = await open_store()
    try:
        assert [(await reopened.get_job(i)).args for i in ids] == [[n] for n in range(50)]
    finally:
        await reopened.close()


async def test_a_caller_changing_its_values_changes_no_stored_job(store: Store) -> None:
    args: list[object] = [[1]]
    kwargs: dict[str, object] = {"k": [2]}
    job = await submit_one(store, args=args, kwargs=kwargs)
    args.append(3)
    job.args.append(4)
    job.kwargs["k"].append(5)  # type: ignore[union-attr]
    claimed = await claim_one(store)
    done = await store.complete(lease_of(claimed), {"r": [6]})
    done.result["r"].append(7)  # type: ignore[index, union-attr]
    stored = await store.get_job(job.id)
    assert (stored.args, stored.kwargs, stored.result) == ([[1]], {"k": [2]}, {"r": [6]})
