"""The in-memory store's writes: each runs under the data's lock, as one atomic step, and
either completes or raises before changing anything.

Every decision (retry or fail, next run_at, the event's words, dispatch order, what is due
or overdue) comes from rota.lifecycle; these functions only apply them, each write fenced
by the lease token as in the SQL stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from rota.errors import RotaError
from rota.ids import new_lease_token
from rota.jobs import Job, JobSpec, JobState, Lease
from rota.lifecycle import (
    EXPIRED_MESSAGE,
    Decision,
    EventKind,
    RetryLater,
    after_failure,
    after_lost_lease,
    cancelled_message,
    dispatch_key,
    is_due,
    is_overdue,
    progress_message,
    reaped_message,
    started_message,
    stopped_message,
    updated_message,
)
from rota.store.base import AcquireRequest, Outcome, Settled, Success
from rota.store.common import check_same_submission, refusal, spec_params, stale_lease
from rota.store.memory_data import MemoryData
from rota.types import JSON

_ENDED = {"lease_token": None, "lease_expires_at": None, "stop_requested_at": None}
"""The fields a write clears when a lease ends."""


def copy_json(text: str) -> Any:
    """Return the value JSON text holds: a stored value never shares state with the caller's."""
    return json.loads(text)


def span(seconds: float) -> timedelta:
    """Return seconds as a timedelta, rounded to the microsecond like the SQL stores."""
    return timedelta(microseconds=round(seconds * 1_000_000))


def submit(data: MemoryData, specs: Sequence[JobSpec], now: datetime) -> list[Job]:
    """Insert the specs' new jobs, all or none (every check comes before any change), and
    return the job of every spec: its new job, or the one its idempotency key names."""
    jobs: list[Job] = []
    new: list[tuple[Job, str]] = []
    by_key: dict[str, tuple[Job, str | None, int | None]] = {}
    for index, spec in enumerate(specs):
        key = spec.idempotency_key
        if key is not None:
            if key not in by_key and key in data.by_key:
                held = data.jobs[data.by_key[key]]
                by_key[key] = (held, data.fingerprints.get(held.id), None)
            if key in by_key:
                holder, fingerprint, made_by = by_key[key]
                batch = None if made_by is None else (index, made_by)
                check_same_submission(spec, holder, fingerprint, batch=batch)
                jobs.append(holder)
                continue
        job_id = data.ids.next(now)
        params = spec_params(index, spec, job_id, 0)
        job = Job(
            id=job_id,
            task=spec.task,
            args=copy_json(params["args"]),
            kwargs=copy_json(params["kwargs"]),
            queue=spec.queue,
            priority=spec.priority,
            state=JobState.PENDING,
            run_at=now if spec.run_at is None else spec.run_at,
            target=spec.target,
            max_attempts=spec.max_attempts,
            backoff=spec.backoff,
            timeout_s=params["timeout_s"],
            deadline_at=spec.deadline_at,
            idempotency_key=key,
            schedule_id=spec.schedule_id,
            attempt=0,
            lease_token=None,
            lease_expires_at=None,
            worker=None,
            created_at=now,
            updated_at=now,
        )
        if key is not None:
            by_key[key] = (job, params["fingerprint"], index)
        new.append((job, params["fingerprint"]))
        jobs.append(job)
    for job, fingerprint in new:
        data.put(job)
        data.fingerprints[job.id] = fingerprint
        if job.idempotency_key is not None:
            data.by_key[job.idempotency_key] = job.id
        data.events[job.id] = []
        data.log(job, EventKind.SUBMITTED, now)
    return jobs


def acquire(data: MemoryData, request: AcquireRequest, now: datetime) -> list[Job]:
    """Claim due jobs for the worker, in dispatch order."""
    if request.limit <= 0 or not request.queues:
        return []
    queues, tags = set(request.queues), set(request.tags)
    tasks = None if request.tasks is None else set(request.tasks)
    eligible = [
        job
        for job in map(data.jobs.__getitem__, data.pending)
        if job.queue in queues
        and (tasks is None or job.task in tasks)
        and (job.target is None or job.target == request.worker or job.target in tags)
        and is_due(job, now)
    ]
    eligible.sort(key=dispatch_key)
    claimed = []
    for job in eligible[: request.limit]:
        job = data.change(
            job,
            now,
            state=JobState.RUNNING,
            attempt=job.attempt + 1,
            lease_token=new_lease_token(),
            lease_expires_at=now + span(request.lease_s),
            worker=request.worker,
            started_at=now,
            progress=None,
            stop_requested_at=None,
        )
        data.log(job, EventKind.STARTED, now, started_message(job))
        claimed.append(job)
    return claimed


def extend(
    data: MemoryData, worker: str, tokens: Sequence[str], lease_s: float, now: datetime
) -> dict[str, JobState]:
    """Extend the worker's leases; return the state of each valid one's job by token."""
    valid: dict[str, JobState] = {}
    for token in dict.fromkeys(tokens):
        job_id = data.by_token.get(token)
        if job_id is None or data.jobs[job_id].worker != worker:
            continue
        job = data.change(data.jobs[job_id], now, lease_expires_at=now + span(lease_s))
        valid[token] = job.state
    return valid


def expire_leases_of(data: MemoryData, worker: str, grace_s: float, now: datetime) -> int:
    """Make the worker's leases expire within grace_s; return how many it touched."""
    latest = now + span(grace_s)
    touched = 0
    for job in [data.jobs[job_id] for job_id in data.by_token.values()]:
        if job.worker != worker or job.lease_expires_at is None:
            continue
        data.change(job, now, lease_expires_at=min(job.lease_expires_at, latest))
        touched += 1
    return touched


def leased(data: MemoryData, lease: Lease) -> Job:
    """Return the running job the lease is current for, or raise StaleLease saying why not."""
    job = data.jobs.get(lease.job_id)
    if job is None or job.state is not JobState.RUNNING or job.lease_token != lease.token:
        raise stale_lease(lease, job)
    return job


def complete(data: MemoryData, lease: Lease, result: JSON, now: datetime) -> Job:
    """Mark the leased job succeeded with its result (already copied through JSON)."""
    job = data.change(
        leased(data, lease),
        now,
        state=JobState.SUCCEEDED,
        result=result,
        error=None,
        traceback=None,
        progress=1.0,
        finished_at=now,
        **_ENDED,
    )
    data.log(job, EventKind.SUCCEEDED, now)
    return job


def fail(
    data: MemoryData,
    lease: Lease,
    now: datetime,
    *,
    error: str,
    traceback: str | None,
    retryable: bool,
) -> Job:
    """Record a failed attempt of the leased job, as the lifecycle rules decide."""
    job = leased(data, lease)
    decision = after_failure(job, error=error, traceback=traceback, retryable=retryable)
    return apply_decision(data, job, decision, now)


def settle_one(
    data: MemoryData, outcome: Outcome, result: JSON | RotaError, now: datetime
) -> Settled:
    """Apply one outcome as complete or fail would (`result` is a Success's result, already
    copied through JSON, or the error that refused it); return the job or the refusal."""
    if isinstance(result, RotaError):
        return result
    try:
        if isinstance(outcome, Success):
            return complete(data, outcome.lease, result, now)
        return fail(
            data,
            outcome.lease,
            now,
            error=outcome.error,
            traceback=outcome.traceback,
            retryable=outcome.retryable,
        )
    except RotaError as exc:  # raised before anything changed: only this item is refused
        return exc


def apply_decision(data: MemoryData, job: Job, decision: Decision, now: datetime) -> Job:
    """Apply the lifecycle's decision about the running job, with its event."""
    common: dict[str, Any] = {"error": decision.error, "traceback": decision.traceback, **_ENDED}
    if isinstance(decision, RetryLater):
        run_at = decision.run_at(job, now)
        after = data.change(job, now, state=JobState.PENDING, run_at=run_at, **common)
    else:
        after = data.change(job, now, state=JobState.FAILED, finished_at=now, **common)
    data.log(after, decision.kind, now, decision.message)
    return after


def release(data: MemoryData, lease: Lease, now: datetime) -> Job:
    """Give the leased job back unrun, or end the lease of a cancelled job whose code stopped."""
    job = data.jobs.get(lease.job_id)
    if job is None or job.lease_token != lease.token:
        raise stale_lease(lease, job)
    if job.state is JobState.RUNNING:
        job = data.change(
            job,
            now,
            state=JobState.PENDING,
            run_at=now,
            prior_attempts=job.prior_attempts + 1,
            progress=None,
            **_ENDED,
        )
        data.log(job, EventKind.RELEASED, now)
        return job
    if job.state is not JobState.CANCELLED:
        raise stale_lease(lease, job)
    job = data.change(job, now, **_ENDED)
    data.log(job, EventKind.STOPPED, now, stopped_message(job))
    return job


def report_stopping(data: MemoryData, lease: Lease, message: str, now: datetime) -> Job:
    """Mark the leased job stopping (the first request counts) and log why."""
    job = data.jobs.get(lease.job_id)
    if (
        job is None
        or job.lease_token != lease.token
        or job.state not in (JobState.RUNNING, JobState.CANCELLED)
    ):
        raise stale_lease(lease, job)
    job = data.change(job, now, stop_requested_at=job.stop_requested_at or now)
    data.log(job, EventKind.STOPPING, now, message)
    return job


def report_progress(
    data: MemoryData, lease: Lease, progress: float | None, message: str | None, now: datetime
) -> None:
    """Store the leased job's progress and log the message."""
    job = data.change(leased(data, lease), now, progress=progress)
    data.log(job, EventKind.PROGRESS, now, progress_message(progress, message))


def reap(data: MemoryData, now: datetime) -> list[Job]:
    """Treat every expired lease of a running job as a lost attempt; end those of stopping
    cancelled jobs."""
    expired = sorted(
        (
            job
            for job in map(data.jobs.__getitem__, data.by_token.values())
            if job.lease_expires_at is not None and job.lease_expires_at <= now
        ),
        key=lambda job: (job.lease_expires_at or now, job.id),
    )
    changed = []
    for job in expired:
        data.log(job, EventKind.REAPED, now, reaped_message(job))
        if job.state is not JobState.RUNNING:
            # A job cancelled while it ran: its code is presumed gone with its worker.
            changed.append(data.change(job, now, **_ENDED))
            continue
        changed.append(apply_decision(data, job, after_lost_lease(job), now))
    return changed


def expire_overdue(data: MemoryData, now: datetime) -> list[Job]:
    """Expire pending jobs whose deadline passed."""
    overdue = sorted(
        (job for job in map(data.jobs.__getitem__, data.pending) if is_overdue(job, now)),
        key=lambda job: job.id,
    )
    expired = []
    for job in overdue:
        job = data.change(job, now, state=JobState.EXPIRED, finished_at=now)
        data.log(job, EventKind.EXPIRED, now, EXPIRED_MESSAGE)
        expired.append(job)
    return expired


def cancel(data: MemoryData, job_id: str, now: datetime) -> Job:
    """Cancel a pending or running job; a running one keeps its lease until its code stopped."""
    job = data.job(job_id)
    if job.state not in (JobState.PENDING, JobState.RUNNING):
        raise refusal("cancel", job)
    job = data.change(
        job,
        now,
        state=JobState.CANCELLED,
        stop_requested_at=None if job.lease_token is None else now,
        finished_at=now,
    )
    data.log(job, EventKind.CANCELLED, now, cancelled_message(job))
    return job


def retry(data: MemoryData, job_id: str, now: datetime) -> Job:
    """Put a finished job back to pending for a new round (JobStopping while it stops)."""
    job = data.job(job_id)
    retryable = (JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED)
    if job.state not in retryable or job.lease_token is not None:
        raise refusal("retry", job)
    job = data.change(
        job,
        now,
        state=JobState.PENDING,
        run_at=now,
        prior_attempts=job.attempt,
        result=None,
        error=None,
        traceback=None,
        progress=None,
        worker=None,
        started_at=None,
        finished_at=None,
        **_ENDED,
    )
    data.log(job, EventKind.RETRIED, now)
    return job


def update(data: MemoryData, job_id: str, values: dict[str, Any], now: datetime) -> Job:
    """Change a pending job's fields (already checked) and log which."""
    job = data.job(job_id)
    if job.state is not JobState.PENDING:
        raise refusal("update_job", job)
    job = data.change(job, now, **values)
    data.log(job, EventKind.UPDATED, now, updated_message(list(values)))
    return job


def purge(data: MemoryData, before: datetime) -> int:
    """Delete finished jobs without a lease, and offline workers not seen since `before`."""
    gone = [
        job.id
        for job in data.jobs.values()
        if job.state.finished
        and job.finished_at is not None
        and job.finished_at < before
        and job.lease_token is None
    ]
    for job_id in gone:
        data.forget(job_id)
    for name, worker in list(data.workers.items()):
        seen = worker.last_seen_at
        if worker.state == "offline" and (seen is None or seen < before):
            del data.workers[name]
    return len(gone)
