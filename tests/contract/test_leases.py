"""The Store contract, part two: leases, fencing, failures, reaping."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.errors import InvalidInput, StaleLease
from rota.jobs import Event, JobState, Lease
from rota.retry import Backoff
from rota.store import Store

from .helpers import claim, claim_one, lease_of, spec, submit_one

NO_JITTER = Backoff(base_s=10, factor=2, max_s=300, jitter=0)


async def test_complete_stores_the_result(store: Store, clock: ManualClock) -> None:
    await submit_one(store)
    job = await claim_one(store)
    clock.advance(3)
    done = await store.complete(lease_of(job), {"answer": [42]})
    assert done.state is JobState.SUCCEEDED
    assert done.result == {"answer": [42]}
    assert done.finished_at == clock.now_utc()
    assert done.lease_token is None
    assert await store.get_job(job.id) == done


async def test_a_wrong_token_is_stale_for_every_verb(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store)
    forged = Lease(job_id=job.id, token="not-the-token")
    with pytest.raises(StaleLease):
        await store.complete(forged, 1)
    with pytest.raises(StaleLease):
        await store.fail(forged, error="x")
    with pytest.raises(StaleLease):
        await store.release(forged)
    with pytest.raises(StaleLease):
        await store.report_progress(forged, 0.5)
    assert (await store.get_job(job.id)).state is JobState.RUNNING
    with pytest.raises(StaleLease):
        await store.complete(Lease(job_id="no-such-job", token=job.lease_token or ""), 1)


async def test_a_finished_lease_cannot_be_used_again(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store)
    await store.complete(lease_of(job), 1)
    with pytest.raises(StaleLease):
        await store.complete(lease_of(job), 2)
    with pytest.raises(StaleLease):
        await store.fail(lease_of(job), error="late")
    assert (await store.get_job(job.id)).result == 1


async def test_a_reaped_lease_is_stale_even_after_a_new_claim(
    store: Store, clock: ManualClock
) -> None:
    await submit_one(store, backoff=NO_JITTER)
    old = await claim_one(store, "w1", lease_s=5)
    clock.advance(5)
    [reaped] = await store.reap()
    assert reaped.id == old.id and reaped.state is JobState.PENDING
    clock.advance(10)
    new = await claim_one(store, "w2")
    assert new.attempt == 2 and new.lease_token != old.lease_token
    with pytest.raises(StaleLease):
        await store.complete(lease_of(old), "from the presumed dead")
    done = await store.complete(lease_of(new), "from the live one")
    assert done.result == "from the live one" and done.worker == "w2"


async def test_success_after_an_expired_lease_clears_the_stale_error(
    store: Store, clock: ManualClock
) -> None:
    job = await submit_one(store, backoff=NO_JITTER)
    await claim_one(store, "w1", lease_s=5)
    clock.advance(5)
    [reaped] = await store.reap()
    assert "expired" in (reaped.error or "")
    clock.advance(10)
    second = await claim_one(store, "w2")
    failed = await store.fail(lease_of(second), error="boom", traceback="Traceback: boom")
    assert (failed.error, failed.traceback) == ("boom", "Traceback: boom")
    clock.advance(20)
    done = await store.complete(lease_of(await claim_one(store, "w3")), "ok")
    assert (done.state, done.result, done.error, done.traceback) == (
        JobState.SUCCEEDED,
        "ok",
        None,
        None,
    )
    assert await store.get_job(job.id) == done
    kinds = [(event.kind, event.message) for event in await store.events(job.id)]
    assert ("reaped", "the lease held by worker w1 expired") in kinds
    assert any(kind == "retrying" and "boom" in (text or "") for kind, text in kinds)


async def test_fail_retries_after_the_backoff(store: Store, clock: ManualClock) -> None:
    await submit_one(store, backoff=NO_JITTER)
    job = await claim_one(store)
    failed = await store.fail(lease_of(job), error="boom", traceback="Traceback: boom")
    assert failed.state is JobState.PENDING
    assert failed.run_at == clock.now_utc() + timedelta(seconds=10)
    assert (failed.error, failed.traceback, failed.lease_token) == ("boom", "Traceback: boom", None)
    assert await claim(store) == []
    clock.advance(10)
    second = await claim_one(store)
    assert second.attempt == 2
    failed = await store.fail(lease_of(second), error="boom again")
    assert failed.run_at == clock.now_utc() + timedelta(seconds=20)


async def test_fail_with_jitter_stays_within_bounds(store: Store, clock: ManualClock) -> None:
    policy = Backoff(base_s=100, factor=2, max_s=1000, jitter=0.5)
    await submit_one(store, backoff=policy)
    job = await claim_one(store)
    failed = await store.fail(lease_of(job), error="boom")
    wait_s = (failed.run_at - clock.now_utc()).total_seconds()
    assert 50 <= wait_s <= 100


async def test_the_last_attempt_fails_for_good(store: Store, clock: ManualClock) -> None:
    await submit_one(store, max_attempts=2, backoff=NO_JITTER)
    job = await claim_one(store)
    await store.fail(lease_of(job), error="first")
    clock.advance(10)
    job = await claim_one(store)
    final = await store.fail(lease_of(job), error="second", traceback="Traceback: second")
    assert final.state is JobState.FAILED
    assert (final.attempt, final.attempts_left) == (2, 0)
    assert (final.error, final.traceback) == ("second", "Traceback: second")
    assert final.finished_at == clock.now_utc()
    clock.advance(1000)
    assert await claim(store) == []


async def test_a_non_retryable_failure_is_final(store: Store) -> None:
    await submit_one(store, max_attempts=5)
    job = await claim_one(store)
    final = await store.fail(lease_of(job), error="bad input", retryable=False)
    assert final.state is JobState.FAILED and final.attempts_left == 4


async def test_reap_counts_the_attempt_and_ends_failed(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store, max_attempts=3, backoff=NO_JITTER)
    for attempt in (1, 2, 3):
        claimed = await claim_one(store, "crashy", lease_s=5)
        assert claimed.attempt == attempt
        assert await store.reap() == []  # not expired yet
        clock.advance(5)
        [reaped] = await store.reap()
        assert reaped.id == job.id
        assert "expired" in (reaped.error or "") and "crashy" in (reaped.error or "")
        clock.advance(1000)
    final = await store.get_job(job.id)
    assert final.state is JobState.FAILED and final.attempt == 3
    assert await claim(store) == []


async def test_reap_leaves_live_leases_alone(store: Store, clock: ManualClock) -> None:
    await store.submit([spec(), spec()])
    short = await claim_one(store, lease_s=5)
    long = await claim_one(store, lease_s=60)
    clock.advance(10)
    reaped = await store.reap()
    assert [job.id for job in reaped] == [short.id]
    assert (await store.get_job(long.id)).state is JobState.RUNNING


async def test_extend_renews_valid_leases_only(store: Store, clock: ManualClock) -> None:
    await store.submit([spec() for _ in range(3)])
    a = await claim_one(store, "w1", lease_s=5)
    b = await claim_one(store, "w1", lease_s=5)
    other = await claim_one(store, "w2", lease_s=5)
    await store.complete(lease_of(b), None)
    clock.advance(4)
    tokens = [a.lease_token or "", b.lease_token or "", other.lease_token or "", "bogus"]
    valid = await store.extend("w1", tokens, 30)
    assert valid == {a.lease_token: JobState.RUNNING}
    assert (await store.get_job(a.id)).lease_expires_at == clock.now_utc() + timedelta(seconds=30)
    clock.advance(20)
    assert [job.id for job in await store.reap()] == [other.id]
    assert (await store.get_job(a.id)).state is JobState.RUNNING


async def test_expire_leases_of_then_reap(store: Store, clock: ManualClock) -> None:
    await store.submit([spec() for _ in range(3)])
    mine = await claim(store, "gone", limit=2, lease_s=60)
    theirs = await claim_one(store, "stays", lease_s=60)
    assert await store.expire_leases_of("gone", 3) == 2
    clock.advance(2)
    assert await store.reap() == []
    clock.advance(1)
    reaped = await store.reap()
    assert {job.id for job in reaped} == {job.id for job in mine}
    assert (await store.get_job(theirs.id)).state is JobState.RUNNING


async def test_a_reconnecting_worker_keeps_its_leases(store: Store, clock: ManualClock) -> None:
    await submit_one(store)
    job = await claim_one(store, "w1", lease_s=60)
    await store.expire_leases_of("w1", 3)
    clock.advance(1)
    assert await store.extend("w1", [job.lease_token or ""], 60) == {
        job.lease_token: JobState.RUNNING
    }
    clock.advance(10)
    assert await store.reap() == []
    assert (await store.complete(lease_of(job), "ok")).state is JobState.SUCCEEDED


async def test_release_does_not_count_the_attempt(store: Store, clock: ManualClock) -> None:
    job = await submit_one(store, max_attempts=1)
    claimed = await claim_one(store)
    clock.advance(2)
    released = await store.release(lease_of(claimed))
    assert released.state is JobState.PENDING
    assert released.lease_token is None and released.attempts_left == 1
    assert released.run_at == clock.now_utc()
    with pytest.raises(StaleLease):
        await store.complete(lease_of(claimed), None)
    again = await claim_one(store)
    assert again.id == job.id and again.attempts_left == 0


async def test_a_released_run_keeps_its_number_and_the_next_run_gets_its_own(
    store: Store,
) -> None:
    # A drained job's code may have run for a while: its run stays in the history under its
    # own number, and the run after it is not labelled "attempt 1 of 3" a second time.
    job = await submit_one(store, max_attempts=3)
    claimed = await claim_one(store, "w1")
    released = await store.release(lease_of(claimed))
    assert (released.attempt, released.attempts_left) == (1, 3)
    again = await claim_one(store, "w2")
    assert (again.attempt, again.round_attempt, again.last_attempt) == (2, 1, 4)
    events = await store.events(job.id)
    assert [(e.kind, e.attempt, e.worker) for e in events if e.kind != "submitted"] == [
        ("started", 1, "w1"),
        ("released", 1, "w1"),
        ("started", 2, "w2"),
    ]
    started = [e.message for e in events if e.kind == "started"]
    assert started == ["attempt 1 of 3", "attempt 2 of 4"]


async def test_progress_is_stored_and_logged(store: Store) -> None:
    await submit_one(store)
    job = await claim_one(store)
    await store.report_progress(lease_of(job), 0.25, "a quarter")
    await store.report_progress(lease_of(job), None, "no figure")
    await store.report_progress(lease_of(job), 0.5)
    assert (await store.get_job(job.id)).progress == 0.5
    events = [e for e in await store.events(job.id) if e.kind == "progress"]
    assert events[0].message == "a quarter" and events[1].message == "no figure"
    with pytest.raises(InvalidInput):
        await store.report_progress(lease_of(job), 1.5)


async def test_the_job_keeps_its_last_progress_message_until_it_runs_again(
    store: Store,
) -> None:
    await submit_one(store)
    job = await claim_one(store)
    assert job.progress_message is None
    await store.report_progress(lease_of(job), 0.25, "a quarter")
    reported = await store.get_job(job.id)
    assert (reported.progress, reported.progress_message) == (0.25, "a quarter")
    assert reported.to_dict()["progress_message"] == "a quarter"
    await store.report_progress(lease_of(job), None, "counting rows")
    assert (await store.get_job(job.id)).progress_message == "counting rows"
    await store.report_progress(lease_of(job), 0.5)  # a report without words has none
    assert (await store.get_job(job.id)).progress_message is None
    await store.report_progress(lease_of(job), 0.75, "three quarters")
    released = await store.release(lease_of(job))
    assert (released.progress, released.progress_message) == (None, None)
    again = await claim_one(store)
    assert again.progress_message is None


async def test_log_appends_lines(store: Store, clock: ManualClock) -> None:
    await submit_one(store)
    job = await claim_one(store)
    lines = [
        Event(job_id=job.id, attempt=1, at=clock.now_utc(), kind="log", worker="w1", message=m)
        for m in ("one", "two")
    ]
    await store.log(lines)
    await store.log([])
    logged = [e for e in await store.events(job.id) if e.kind == "log"]
    assert [e.message for e in logged] == ["one", "two"]
    assert all(e.worker == "w1" and e.attempt == 1 for e in logged)


@pytest.mark.parametrize("how", ["lease ran out", "worker disconnected"])
async def test_a_job_whose_worker_died_keeps_its_place_in_line(
    store: Store, clock: ManualClock, how: str
) -> None:
    # Its attempt counts, but it waits neither a backoff nor behind the jobs that came later.
    first = await submit_one(store, backoff=NO_JITTER)
    clock.advance(1)
    later = await store.submit([spec(backoff=NO_JITTER) for _ in range(30)])
    lost = await claim_one(store, "dies", lease_s=60)
    assert lost.id == first.id
    await claim(store, "lives", limit=2, lease_s=600)
    if how == "worker disconnected":
        assert await store.expire_leases_of("dies", 2) == 1
        clock.advance(2)
    else:
        clock.advance(60)
    [reaped] = await store.reap()
    assert (reaped.id, reaped.state, reaped.attempt) == (first.id, JobState.PENDING, 1)
    assert reaped.run_at == first.run_at < later[0].run_at < clock.now_utc()
    retrying = (await store.events(first.id))[-1]
    assert retrying.kind == "retrying" and "at once" in (retrying.message or "")
    again = await claim_one(store, "lives")
    assert (again.id, again.attempt, again.attempts_left) == (first.id, 2, 1)
