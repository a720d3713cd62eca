"""The Store contract, explore: jobs found by any filter in any order, per-task figures,
each attempt's own error, a worker's resources over time, retry with new arguments."""

from __future__ import annotations

import random
from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidInput
from rota.jobs import JobState
from rota.scheduling import admin
from rota.scheduling.model import Misfire, Overlap, ScheduleSpec
from rota.server.scheduler import Scheduler
from rota.store import Store
from rota.store.base import JobQuery, WorkerInfo
from rota.store.explore import JobSort

from .helpers import claim_one, lease_of, submit_one


async def ids(store: Store, **filters: object) -> list[str]:
    page = await store.list_jobs(JobQuery(**filters))  # type: ignore[arg-type]
    return [job.id for job in page.jobs]


async def test_search_finds_by_id_prefix_short_id_key_task_and_text(store: Store) -> None:
    failed = await submit_one(store, task="report.fail", max_attempts=1)
    await store.fail(lease_of(await claim_one(store)), error="Disk FULL on /var")
    other = await submit_one(store, task="report.build", kwargs={"month": "March"})
    hello = await submit_one(store, task="mail.send", args=["Hello Wörld"], idempotency_key="k-1")

    assert await ids(store, search=hello.id) == [hello.id]
    assert hello.id in await ids(store, search=hello.id[:8])
    assert await ids(store, search=hello.id[-12:].upper()) == [hello.id]  # the short id
    assert await ids(store, search="k-1") == [hello.id]
    assert await ids(store, search="mail.") == [hello.id]
    assert await ids(store, search="report") == [other.id, failed.id]
    assert await ids(store, search="hello wörld") == [hello.id]
    assert await ids(store, search="march") == [other.id]
    assert await ids(store, search="disk full") == [failed.id]
    assert await ids(store, search="nothing like it") == []


async def test_task_filter_matches_a_prefix(store: Store) -> None:
    send = await submit_one(store, task="mail.send")
    bounce = await submit_one(store, task="mail.bounce")
    await submit_one(store, task="report.build")
    assert await ids(store, task="mail.") == [bounce.id, send.id]
    assert await ids(store, task="mail.send") == [send.id]
    assert await ids(store, task="mail_") == []  # not a pattern


async def test_created_range_and_schedule_filters(store: Store, clock: ManualClock) -> None:
    first = await submit_one(store)
    clock.advance(60)
    middle = await submit_one(store, schedule_id="s-1")
    clock.advance(60)
    last = await submit_one(store)
    start = first.created_at
    assert await ids(store, created_after=start + timedelta(seconds=30)) == [last.id, middle.id]
    assert await ids(store, created_before=start + timedelta(seconds=90)) == [middle.id, first.id]
    assert await ids(
        store,
        created_after=start + timedelta(seconds=30),
        created_before=start + timedelta(seconds=90),
    ) == [middle.id]
    assert await ids(store, schedule_id="s-1") == [middle.id]


async def test_sorts_each_column_both_ways_and_pages_through(
    store: Store, clock: ManualClock
) -> None:
    late = await submit_one(store, task="b", run_at=clock.now_utc() + timedelta(hours=2))
    soon = await submit_one(store, task="c", run_at=clock.now_utc() + timedelta(hours=1))
    quick = await submit_one(store, task="a")
    slow = await submit_one(store, task="d")
    await claim_one(store)  # quick: due now, first in line
    await claim_one(store)  # slow
    clock.advance(1)
    await store.complete(lease_of(await store.get_job(quick.id)), None)
    clock.advance(9)
    await store.complete(lease_of(await store.get_job(slow.id)), None)

    assert await ids(store, sort=JobSort.TASK, descending=False) == [
        quick.id, late.id, soon.id, slow.id,
    ]  # fmt: skip
    assert await ids(store, sort=JobSort.TASK) == [slow.id, soon.id, late.id, quick.id]
    assert (await ids(store, sort=JobSort.RUN_AT))[:2] == [late.id, soon.id]
    assert await ids(store, sort=JobSort.DURATION) == [slow.id, quick.id, soon.id, late.id]
    assert (await ids(store, sort=JobSort.DURATION, descending=False))[:2] == [quick.id, slow.id]
    assert (await ids(store, sort=JobSort.STATE))[:2] == [slow.id, quick.id]  # succeeded
    assert await ids(store, descending=False) == [late.id, soon.id, quick.id, slow.id]

    for sort in JobSort:
        for descending in (True, False):
            whole = await ids(store, sort=sort, descending=descending)
            seen: list[str] = []
            cursor = None
            while True:
                page = await store.list_jobs(
                    JobQuery(sort=sort, descending=descending, limit=3, cursor=cursor)
                )
                seen += [job.id for job in page.jobs]
                if page.next_cursor is None:
                    break
                cursor = page.next_cursor
            assert seen == whole, (sort, descending)


async def test_a_cursor_of_another_order_is_refused(store: Store) -> None:
    for _ in range(3):
        await submit_one(store)
    page = await store.list_jobs(JobQuery(sort=JobSort.TASK, limit=1))
    assert page.next_cursor is not None
    with pytest.raises(InvalidInput, match="cursor"):
        await store.list_jobs(JobQuery(cursor=page.next_cursor, task="tests"))
    with pytest.raises(InvalidInput, match="cursor"):
        await store.list_jobs(JobQuery(sort=JobSort.TASK, cursor="0190f5c2"))


async def test_a_cursor_no_page_made_is_refused_in_every_list(store: Store) -> None:
    first, second = await submit_one(store), await submit_one(store)
    page = await store.list_jobs(JobQuery(limit=1))
    assert [job.id for job in page.jobs] == [second.id]
    assert page.next_cursor == second.id
    for filters in ({}, {"task": "tests"}, {"descending": False}):
        query = JobQuery(limit=5, cursor=first.id, **filters)  # type: ignore[arg-type]
        await store.list_jobs(query)  # a cursor that is an id is read as one
        for cursor in ("", "x", "~", "0190f5c2", second.id.upper(), f"{second.id} ", "offset:1"):
            bad = JobQuery(limit=5, cursor=cursor, **filters)  # type: ignore[arg-type]
            with pytest.raises(InvalidInput, match="cursor"):
                await store.list_jobs(bad)
    assert first.id in await ids(store, cursor=second.id)


async def test_task_stats_count_states_and_time_runs(store: Store, clock: ManualClock) -> None:
    start = clock.now_utc()
    for seconds in (1, 2, 3, 4):
        await submit_one(store, task="work")
        job = await claim_one(store)
        clock.advance(seconds)
        await store.complete(lease_of(job), None)
    await submit_one(store, task="work", max_attempts=1)
    clock.advance(5)  # five seconds late
    job = await claim_one(store)
    clock.advance(10)
    await store.fail(lease_of(job), error="boom")
    await submit_one(store, task="idle", run_at=clock.now_utc() + timedelta(hours=1))

    stats = {row.task: row for row in await store.task_stats(start)}
    work, idle = stats["work"], stats["idle"]
    assert work.counts["succeeded"] == 4 and work.counts["failed"] == 1
    assert work.failure_rate == pytest.approx(0.2)
    assert work.run_p50_s == pytest.approx(3) and work.run_p95_s == pytest.approx(10)
    assert work.lateness_p95_s == pytest.approx(5) and work.lateness_p50_s == pytest.approx(0)
    assert work.samples == 5
    assert idle.counts["pending"] == 1 and idle.failure_rate is None and idle.run_p50_s is None

    later = {row.task for row in await store.task_stats(clock.now_utc() + timedelta(seconds=1))}
    assert later == {"idle"}  # finished jobs fall out of the window; pending ones stay


async def test_each_failed_attempt_keeps_its_own_error_and_traceback(
    store: Store, clock: ManualClock
) -> None:
    job = await submit_one(store, max_attempts=3)
    await store.fail(lease_of(await claim_one(store)), error="first", traceback="tb 1")
    clock.advance(3600)  # past the backoff
    await store.release(lease_of(await claim_one(store)))  # a drain: not a failure
    await store.fail(lease_of(await claim_one(store)), error="third", traceback="tb 3")
    clock.advance(3600)
    await store.complete(lease_of(await claim_one(store)), "ok")
    errors = await store.attempt_errors(job.id)
    assert [(e.attempt, e.error, e.traceback) for e in errors] == [
        (1, "first", "tb 1"),
        (3, "third", "tb 3"),
    ]
    assert (await store.get_job(job.id)).error is None
    assert await store.attempt_errors("0190f5c2-0000-7000-8000-000000000000") == []


async def test_retry_with_new_arguments(store: Store) -> None:
    job = await submit_one(store, args=[1], kwargs={"a": 1}, max_attempts=1)
    await store.fail(lease_of(await claim_one(store)), error="bad input")
    again = await store.retry(job.id, args=[2], kwargs={"b": [3]})
    assert again.state is JobState.PENDING
    assert (again.args, again.kwargs) == ([2], {"b": [3]})
    events = await store.events(job.id)
    assert events[-1].kind == "retried" and events[-1].message == "with new args and kwargs"
    await store.cancel(job.id)
    same = await store.retry(job.id)
    assert (same.args, same.kwargs) == ([2], {"b": [3]})


async def test_worker_resources_are_sampled_over_time(store: Store, clock: ManualClock) -> None:
    await store.register_worker(WorkerInfo(name="w1", queues=["default"]))
    for step in range(8):
        await store.worker_seen(
            "w1", running=step, state="online", resources={"cpu_percent": step * 10}
        )
        clock.advance(10)
    samples = await store.worker_samples("w1")
    # One sample per 15 s at most: heartbeats every 10 s give one in two.
    assert [sample.running for sample in samples] == [0, 2, 4, 6]
    assert samples[1].resources == {"cpu_percent": 20}
    assert samples[0].at < samples[1].at
    clock.advance(4000)
    await store.worker_seen("w1", running=0, state="online", resources={"cpu_percent": 1})
    assert [sample.running for sample in await store.worker_samples("w1")] == [0]
    await store.worker_gone("w1")
    await store.purge(clock.now_utc() + timedelta(seconds=1))
    assert await store.worker_samples("w1") == []


async def test_skipped_occurrences_are_kept_with_why(store: Store, clock: ManualClock) -> None:
    spec = ScheduleSpec(
        name="tick",
        task="tests.tick",
        interval_s=10,
        overlap=Overlap.SKIP,
        misfire=Misfire.ONCE,
    )
    created = await admin.create(store, spec)
    loop = Scheduler(store=store, on_written=lambda: None, rng=random.Random(7))
    clock.advance(10)
    assert (await loop.fire_once())[0] == 1
    job = await claim_one(store, queues=("default",))
    clock.advance(10)
    assert (await loop.fire_once())[0] == 0  # the first still runs: skipped
    [overlap] = await store.schedule_skips(created.id)
    assert overlap.fire_at == created.next_fire_at + timedelta(seconds=10)
    assert overlap.reason == f"overlap=skip: its last run (job {job.id}) was still running"

    await store.complete(lease_of(job), None)
    clock.advance(300)  # down for five minutes: misfire=once runs the latest only
    assert (await loop.fire_once())[0] == 1
    skips = await store.schedule_skips(created.id)
    # Newest first: the latest missed one gave way to the one due on time in the same round.
    assert [skip.reason.split(":")[0] for skip in skips] == [
        "overlap=skip",
        "missed",
        "overlap=skip",
    ]
    later, missed, _ = skips
    assert later.reason == "overlap=skip: a later occurrence was due in the same round"
    assert "misfire=once" in missed.reason and "ran the latest 1" in missed.reason
    assert missed.fire_at == overlap.fire_at + timedelta(seconds=10)
    assert await store.schedule_skips(created.id, before=missed.fire_at) == [overlap]
    assert await store.schedule_skips(created.id, after=later.fire_at) == [later]
    await admin.delete(store, created.id)
    assert await store.schedule_skips(created.id) == []
