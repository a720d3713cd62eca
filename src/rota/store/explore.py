"""What people ask of the store beside the verbs that move jobs: jobs found by any filter and
sorted by any column, per-task figures, each attempt's own error, a worker's resources over
time, and the occurrences a schedule skipped.

These verbs only read. Each backend implements them in a part of its own
(sqlite_explore.py, postgres_explore.py, memory_reads.py) with its SQL in `explore.sql`;
the per-attempt errors and the resource samples are written by triggers of the explore
migration (0006_explore.sql on SQLite, 0007_explore.sql on PostgreSQL), in the same
transaction as the change that causes them, whichever verb makes it; the in-memory store
keeps them the same way (MemoryData.put, MemoryStore.worker_seen).
"""

from __future__ import annotations

import enum
import json
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from rota.jobs import JobState
from rota.store.insights import rank
from rota.types import JobId

MAX_STAT_SAMPLES = 20_000
"""Run times and lateness are taken from at most this many of the newest finished jobs."""
SAMPLE_EVERY_S = 15
"""A worker's resources are kept at most once per this many seconds (see the explore migration)."""
SAMPLES_KEPT_S = 3600
"""...and for this long."""
MAX_SKIPS_KEPT = 200
"""The newest skipped occurrences kept per schedule."""


class JobSort(enum.StrEnum):
    """The columns a list of jobs can be sorted by."""

    CREATED_AT = "created_at"
    RUN_AT = "run_at"
    DURATION = "duration"
    TASK = "task"
    STATE = "state"


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskStats:
    """One task's figures over a window of time.

    `counts` holds, by state, the jobs that finished within the window (by their final
    state) and the jobs pending or running now. `failure_rate` is failed / (succeeded +
    failed) of those finished, None when none did. Run time is finished_at - started_at of
    the last attempt of jobs that succeeded or failed; lateness is started_at - run_at;
    percentiles are nearest-rank over at most MAX_STAT_SAMPLES of the newest jobs.
    """

    task: str
    counts: dict[str, int]
    failure_rate: float | None
    run_p50_s: float | None
    run_p95_s: float | None
    lateness_p50_s: float | None
    lateness_p95_s: float | None
    samples: int


@dataclass(frozen=True, kw_only=True, slots=True)
class AttemptError:
    """What a failed attempt left: its error and traceback, kept when the job runs again."""

    job_id: JobId
    attempt: int
    at: datetime
    error: str | None
    traceback: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerSample:
    """A worker's resources and load as one heartbeat reported them."""

    at: datetime
    running: int
    resources: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleSkip:
    """An occurrence of a schedule that was not run, and why (see scheduling.model.Skip)."""

    schedule_id: str
    fire_at: datetime
    at: datetime
    """When the scheduler round that skipped it ran."""
    reason: str


class Explorer(Protocol):
    """The read-only verbs that serve people's questions (the API's lists and pages)."""

    async def task_stats(self, since: datetime) -> list[TaskStats]:
        """Return, by task name, the figures of jobs finished since `since` and of the jobs
        pending or running now (see TaskStats)."""
        ...

    async def attempt_errors(self, job_id: JobId) -> list[AttemptError]:
        """Return the error and traceback of each failed attempt of the job, in order
        (an empty list for an unknown job)."""
        ...

    async def worker_samples(self, name: str) -> list[WorkerSample]:
        """Return the worker's kept resource samples, oldest first (one per SAMPLE_EVERY_S
        at most, over the last SAMPLES_KEPT_S of heartbeats)."""
        ...

    async def schedule_skips(
        self,
        schedule_id: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = 200,
    ) -> list[ScheduleSkip]:
        """Return the schedule's skipped occurrences with fire_at in [after, before), newest
        first (the newest 200 are kept)."""
        ...


@dataclass(frozen=True, kw_only=True, slots=True)
class StatRow:
    """One finished job's figures as the backends read them, for task_stats_of."""

    task: str
    run_s: float | None
    late_s: float | None


def task_stats_of(
    counts: Sequence[tuple[str, str, int]], samples: Sequence[StatRow]
) -> list[TaskStats]:
    """Return the figures per task from (task, state, count) rows and finished jobs' samples."""
    by_task: dict[str, dict[str, int]] = {}
    for task, state, count in counts:
        by_task.setdefault(task, {str(s): 0 for s in JobState})[state] = int(count)
    runs: dict[str, list[float]] = {}
    lates: dict[str, list[float]] = {}
    for row in samples:
        by_task.setdefault(row.task, {str(s): 0 for s in JobState})
        if row.run_s is not None:
            runs.setdefault(row.task, []).append(max(0.0, row.run_s))
        if row.late_s is not None:
            lates.setdefault(row.task, []).append(max(0.0, row.late_s))
    stats = []
    for task in sorted(by_task):
        state_counts = by_task[task]
        finished = state_counts["succeeded"] + state_counts["failed"]
        run = sorted(runs.get(task, []))
        late = sorted(lates.get(task, []))
        stats.append(
            TaskStats(
                task=task,
                counts=state_counts,
                failure_rate=state_counts["failed"] / finished if finished else None,
                run_p50_s=rank(run, 0.50) if run else None,
                run_p95_s=rank(run, 0.95) if run else None,
                lateness_p50_s=rank(late, 0.50) if late else None,
                lateness_p95_s=rank(late, 0.95) if late else None,
                samples=len(run),
            )
        )
    return stats


def search_terms(search: str | None) -> dict[str, str | None]:
    """Return the parameters of a free-text search: the text in lower case, and the same
    text as it appears inside stored JSON (non-ASCII escaped as \\uXXXX)."""
    if search is None:
        return {"search": None, "search_json": None}
    text = search.lower()
    return {"search": text, "search_json": json.dumps(text)[1:-1]}
