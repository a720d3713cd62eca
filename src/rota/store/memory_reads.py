"""The in-memory store's figures: queue depths, throughput and lateness, computed from the
jobs as pure functions (the caller holds the data's lock while it passes them in)."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from typing import Any

from rota.jobs import Job, JobState
from rota.store.base import JobPage, JobQuery, QueueStats
from rota.store.common import dump_json, filter_params, to_filtered_page
from rota.store.explore import MAX_STAT_SAMPLES, JobSort, StatRow, TaskStats, task_stats_of
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


def filter_jobs(jobs: Iterable[Job], query: JobQuery) -> JobPage:
    """Return the page of jobs matching the query, in its order (as filter_jobs in SQL)."""
    params = filter_params(query)
    search, search_json = params["search"], params["search_json"]

    def matches(job: Job) -> bool:
        return (
            (params["before"] is None or job.id < params["before"])
            and (params["after"] is None or job.id > params["after"])
            and (query.state is None or job.state is query.state)
            and (query.queue is None or job.queue == query.queue)
            and (query.task is None or job.task.startswith(query.task))
            and (query.worker is None or job.worker == query.worker)
            and (query.schedule_id is None or job.schedule_id == query.schedule_id)
            and (query.created_after is None or job.created_at >= query.created_after)
            and (query.created_before is None or job.created_at < query.created_before)
            and (
                query.finished_after is None
                or (job.finished_at is not None and job.finished_at >= query.finished_after)
            )
            and (search is None or _found(job, search, search_json))
        )

    found = sorted(filter(matches, jobs), key=lambda job: job.id, reverse=query.descending)
    key = _SORT_KEYS.get(query.sort)
    if key is not None:  # stable: ties stay in id order, as the SQL breaks them
        present = [job for job in found if key(job) is not None]
        absent = [job for job in found if key(job) is None]  # NULLS LAST
        present.sort(key=key, reverse=query.descending)
        found = present + absent
    offset = params["offset"]
    return to_filtered_page(found[offset : offset + params["limit"]], query, offset)


def _found(job: Job, search: str, search_json: str) -> bool:
    stored = [dump_json(job.args, "args"), dump_json(job.kwargs, "kwargs")]
    stored.append(dump_json(job.result, "result") if job.result is not None else "")
    return (
        job.id.startswith(search)
        or job.id.endswith(search)
        or job.idempotency_key == search
        or job.task.lower().startswith(search)
        or any(search_json in text.lower() for text in stored)
        or search in (job.error or "").lower()
    )


def _duration(job: Job) -> float | None:
    if job.started_at is None or job.finished_at is None:
        return None
    return (job.finished_at - job.started_at).total_seconds()


_SORT_KEYS: dict[JobSort, Callable[[Job], Any]] = {
    JobSort.RUN_AT: lambda job: job.run_at,
    JobSort.DURATION: _duration,
    JobSort.TASK: lambda job: job.task.encode(),
    JobSort.STATE: lambda job: str(job.state),
}


def task_stats(jobs: Iterable[Job], since: datetime) -> list[TaskStats]:
    """Return the figures per task (see Explorer.task_stats)."""
    counts: dict[tuple[str, str], int] = {}
    samples = []
    for job in jobs:
        finished = job.finished_at is not None and job.finished_at >= since
        if finished or job.state in (JobState.PENDING, JobState.RUNNING):
            counts[(job.task, str(job.state))] = counts.get((job.task, str(job.state)), 0) + 1
        if finished and job.started_at is not None and job.finished_at is not None:
            run_s = _duration(job) if job.state in (JobState.SUCCEEDED, JobState.FAILED) else None
            late_s = (job.started_at - job.run_at).total_seconds()
            samples.append((job.finished_at, StatRow(task=job.task, run_s=run_s, late_s=late_s)))
    samples.sort(key=lambda item: item[0], reverse=True)
    return task_stats_of(
        [(task, state, count) for (task, state), count in counts.items()],
        [row for _, row in samples[:MAX_STAT_SAMPLES]],
    )
