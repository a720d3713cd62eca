"""The in-memory store's figures: queue depths, throughput and lateness, computed from the
jobs as pure functions (the caller holds the data's lock while it passes them in)."""

from __future__ import annotations

from collections.abc import Iterable
from datetime import UTC, datetime
from typing import Any

from rota.jobs import Job, JobState
from rota.store.base import JobQuery, QueueStats
from rota.store.insights import (
    MAX_LATENESS_SAMPLES,
    Lateness,
    ThroughputBucket,
    bucket_floor_s,
    lateness_of,
)


def matching(jobs: Iterable[Job], query: JobQuery, *, before: str) -> list[Job]:
    """Return the jobs the query's filters match whose id sorts before `before`, newest first."""
    found = [
        job
        for job in jobs
        if job.id < before
        and (query.state is None or job.state is query.state)
        and (query.queue is None or job.queue == query.queue)
        and (query.task is None or job.task == query.task)
        and (query.worker is None or job.worker == query.worker)
        and (query.search is None or query.search in (job.id, job.idempotency_key))
    ]
    found.sort(key=lambda job: job.id, reverse=True)
    return found


def queue_stats(jobs: Iterable[Job], now: datetime) -> list[QueueStats]:
    """Return depth, running count and oldest due age for every queue with live jobs."""
    figures: dict[str, dict[str, Any]] = {}
    for job in jobs:
        if job.state not in (JobState.PENDING, JobState.RUNNING):
            continue
        entry = figures.setdefault(
            job.queue, {"pending": 0, "due": 0, "running": 0, "oldest": None}
        )
        if job.state is JobState.RUNNING:
            entry["running"] += 1
            continue
        entry["pending"] += 1
        if job.run_at <= now:
            entry["due"] += 1
            if entry["oldest"] is None or job.run_at < entry["oldest"]:
                entry["oldest"] = job.run_at
    return [
        QueueStats(
            queue=queue,
            pending=entry["pending"],
            due=entry["due"],
            running=entry["running"],
            oldest_due_age_s=(
                None
                if entry["oldest"] is None
                else max(0.0, (now - entry["oldest"]).total_seconds())
            ),
        )
        for queue, entry in sorted(figures.items())
    ]


def throughput(jobs: Iterable[Job], since: datetime, bucket_s: int) -> list[ThroughputBucket]:
    """Return the buckets from `since` (floored) in which jobs succeeded or failed for good."""
    start = bucket_floor_s(since.timestamp(), bucket_s)
    counts: dict[int, list[int]] = {}
    for job in jobs:
        if job.state not in (JobState.SUCCEEDED, JobState.FAILED) or job.finished_at is None:
            continue
        finished_s = job.finished_at.timestamp()
        if finished_s < start:
            continue
        entry = counts.setdefault(bucket_floor_s(finished_s, bucket_s), [0, 0])
        entry[0 if job.state is JobState.SUCCEEDED else 1] += 1
    return [
        ThroughputBucket(
            start_at=datetime.fromtimestamp(moment, UTC), succeeded=succeeded, failed=failed
        )
        for moment, (succeeded, failed) in sorted(counts.items())
    ]


def lateness(jobs: Iterable[Job], since: datetime) -> Lateness:
    """Return the lateness (started_at - run_at) of the newest jobs that finished since
    `since` after starting."""
    finished = sorted(
        (
            (job.finished_at, (job.started_at - job.run_at).total_seconds())
            for job in jobs
            if job.finished_at is not None
            and job.finished_at >= since
            and job.started_at is not None
        ),
        reverse=True,
    )
    return lateness_of([late_s for _, late_s in finished[:MAX_LATENESS_SAMPLES]])
