"""The Store contract, insights: throughput buckets, lateness and the event watermark."""

from __future__ import annotations

from datetime import timedelta

import pytest

from rota.clock import ManualClock
from rota.store import Store
from rota.store.insights import Insights, lateness_of

from .helpers import claim_one, lease_of, submit_one


def insights_of(store: Store) -> Insights:
    assert isinstance(store, Insights), f"{store!r} offers no insights"
    return store


async def test_throughput_counts_final_outcomes_per_bucket(
    store: Store, clock: ManualClock
) -> None:
    figures = insights_of(store)
    start = clock.now_utc()
    assert await figures.throughput(start - timedelta(hours=1), 60) == []
    await submit_one(store)
    await store.complete(lease_of(await claim_one(store)), "ok")
    await submit_one(store, max_attempts=1)
    await store.fail(lease_of(await claim_one(store)), error="boom")
    await submit_one(store, max_attempts=2)
    # A failed attempt with attempts left is a retry, not an outcome.
    await store.fail(lease_of(await claim_one(store)), error="again")
    clock.advance(120)
    await submit_one(store)
    await store.complete(lease_of(await claim_one(store)), "ok")
    cancelled = await submit_one(store, run_at=clock.now_utc() + timedelta(hours=1))
    await store.cancel(cancelled.id)

    buckets = await figures.throughput(start - timedelta(minutes=5), 60)
    assert [(b.start_at, b.succeeded, b.failed) for b in buckets] == [
        (start, 1, 1),
        (start + timedelta(seconds=120), 1, 0),
    ]
    # Only what finished since the given moment (floored to its bucket) counts.
    later = await figures.throughput(start + timedelta(seconds=90), 60)
    assert [(b.succeeded, b.failed) for b in later] == [(1, 0)]


async def test_lateness_measures_started_at_minus_run_at(store: Store, clock: ManualClock) -> None:
    figures = insights_of(store)
    since = clock.now_utc()
    assert (await figures.lateness(since)).samples == 0
    for late_s in (1, 2, 3, 4):
        await submit_one(store)
        clock.advance(late_s)
        await store.complete(lease_of(await claim_one(store)), None)
    running = await submit_one(store)
    clock.advance(50)
    await claim_one(store)  # started but not finished: not in the sample yet

    lateness = await figures.lateness(since)
    assert lateness.samples == 4
    assert lateness.p50_s == pytest.approx(2.0)
    assert lateness.p99_s == pytest.approx(4.0)
    assert lateness.max_s == pytest.approx(4.0)
    assert running.id
    recent = await figures.lateness(clock.now_utc())
    assert recent.samples == 0


async def test_event_watermark_grows_with_every_change(store: Store) -> None:
    figures = insights_of(store)
    empty = await figures.event_watermark()
    assert empty == 0
    job = await submit_one(store)
    submitted = await figures.event_watermark()
    assert submitted > empty
    await claim_one(store)
    started = await figures.event_watermark()
    assert started > submitted
    await store.cancel(job.id)
    assert await figures.event_watermark() > started


def test_lateness_percentiles_use_nearest_rank() -> None:
    figures = lateness_of([float(n) for n in range(100, 0, -1)] + [-3.0])
    assert figures.samples == 101
    assert figures.p50_s == 50.0
    assert figures.p99_s == 99.0
    assert figures.max_s == 100.0
    assert lateness_of([]).p50_s is None
