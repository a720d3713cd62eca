"""What the in-memory store holds: jobs, their log, workers and schedules, with the indexes
its verbs need (pending jobs, lease tokens, idempotency keys).

A MemoryData outlives the store that opened it: opening another MemoryStore on the same
MemoryData is the in-memory equivalent of reopening a database file.
"""

from __future__ import annotations

import copy
import functools
import threading
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field, replace
from datetime import datetime, timedelta
from typing import Any, ParamSpec, TypeVar

from rota.auth.tokens import TokenRecord
from rota.errors import JobNotFound
from rota.jobs import Event, Job, JobState
from rota.scheduling.model import ScheduleSpec
from rota.store.base import WorkerInfo
from rota.store.common import JobIds
from rota.store.explore import AttemptError, ScheduleSkip, WorkerSample

P = ParamSpec("P")
T = TypeVar("T")


def detached(
    verb: Callable[P, Coroutine[Any, Any, T]],
) -> Callable[P, Coroutine[Any, Any, T]]:
    """Return the verb answering a deep copy of what it returns: a caller that changes a
    job's args or result changes its own copy, never the stored job (as with a database)."""

    @functools.wraps(verb)
    async def detached(*args: P.args, **kwargs: P.kwargs) -> T:
        return copy.deepcopy(await verb(*args, **kwargs))

    return detached


ENDED: dict[str, Any] = {"lease_token": None, "lease_expires_at": None, "stop_requested_at": None}
"""The fields a write clears when a lease ends."""


def span(seconds: float) -> timedelta:
    """Return seconds as a timedelta, rounded to the microsecond like the SQL stores."""
    return timedelta(microseconds=round(seconds * 1_000_000))


@dataclass(kw_only=True, slots=True)
class ScheduleRecord:
    """A schedule as kept: its spec and where it is in time (the last job's state is read
    from the job whenever the schedule is)."""

    id: str
    spec: ScheduleSpec
    next_fire_at: datetime | None
    last_fire_at: datetime | None = None
    last_job_id: str | None = None
    fired_count: int = 0
    skipped_count: int = 0
    version: int = 1
    created_at: datetime
    updated_at: datetime


@dataclass(kw_only=True, slots=True)
class MemoryData:
    """Everything an in-memory store keeps. Change it only under `lock`, and only through
    a verb of the store, so each verb is one atomic step."""

    lock: threading.RLock = field(default_factory=threading.RLock)
    jobs: dict[str, Job] = field(default_factory=dict)
    fingerprints: dict[str, str | None] = field(default_factory=dict)
    by_key: dict[str, str] = field(default_factory=dict)
    """Idempotency key -> job id."""
    pending: set[str] = field(default_factory=set)
    by_token: dict[str, str] = field(default_factory=dict)
    """Lease token -> job id, for every lease held (running or stopping)."""
    events: dict[str, list[Event]] = field(default_factory=dict)
    """Job id -> its execution log, in order."""
    last_event_id: int = 0
    workers: dict[str, WorkerInfo] = field(default_factory=dict)
    tokens: dict[str, TokenRecord] = field(default_factory=dict)
    """Token id -> token, in the order they were made."""
    schedules: dict[str, ScheduleRecord] = field(default_factory=dict)
    attempt_errors: dict[str, dict[int, AttemptError]] = field(default_factory=dict)
    """Job id -> attempt -> what the failed attempt left (kept as by put())."""
    worker_samples: dict[str, list[WorkerSample]] = field(default_factory=dict)
    schedule_skips: dict[str, list[ScheduleSkip]] = field(default_factory=dict)
    ids: JobIds = field(default_factory=JobIds)

    def job(self, job_id: str) -> Job:
        """Return the job, or raise JobNotFound."""
        found = self.jobs.get(job_id)
        if found is None:
            raise JobNotFound(f"no job has the id {job_id}")
        return found

    def put(self, job: Job) -> Job:
        """Store a new or changed job, keeping the indexes in step; return it."""
        before = self.jobs.get(job.id)
        if before is not None and before.lease_token is not None:
            self.by_token.pop(before.lease_token, None)
        if job.lease_token is not None:
            self.by_token[job.lease_token] = job.id
        if job.state is JobState.PENDING:
            self.pending.add(job.id)
        else:
            self.pending.discard(job.id)
        if (
            before is not None
            and before.state is JobState.RUNNING
            and job.state in (JobState.PENDING, JobState.FAILED)
            and job.error is not None
            and job.prior_attempts == before.prior_attempts
        ):  # a failed attempt, not a release: kept as the SQL stores' trigger keeps it
            self.attempt_errors.setdefault(job.id, {})[before.attempt] = AttemptError(
                job_id=job.id,
                attempt=before.attempt,
                at=job.updated_at,
                error=job.error,
                traceback=job.traceback,
            )
        self.jobs[job.id] = job
        return job

    def change(self, job: Job, now: datetime, **changes: Any) -> Job:
        """Store the job with these fields changed and updated_at = now; return it."""
        return self.put(replace(job, updated_at=now, **changes))

    def log(
        self,
        job: Job,
        kind: str,
        at: datetime,
        message: str | None = None,
        *,
        worker: str | None = None,
    ) -> None:
        """Append an event about `job` (its attempt, its worker unless another is given)."""
        self.append(
            Event(
                job_id=job.id,
                attempt=job.attempt,
                at=at,
                kind=kind,
                worker=worker if worker is not None else job.worker,
                message=message,
            )
        )

    def append(self, event: Event) -> None:
        """Append an event with the next id, if its job still exists."""
        lines = self.events.get(event.job_id)
        if lines is None:
            return  # retention deleted the job: its late lines go too
        self.last_event_id += 1
        lines.append(replace(event, id=self.last_event_id))

    def forget(self, job_id: str) -> None:
        """Delete a job and its log."""
        job = self.jobs.pop(job_id)
        self.pending.discard(job_id)
        if job.lease_token is not None:
            self.by_token.pop(job.lease_token, None)
        if job.idempotency_key is not None:
            self.by_key.pop(job.idempotency_key, None)
        self.fingerprints.pop(job_id, None)
        self.events.pop(job_id, None)
        self.attempt_errors.pop(job_id, None)
