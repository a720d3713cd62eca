"""The in-memory store's lease verbs: claims, heartbeats, outcomes and reaping. Each runs
under the data's lock, as one atomic step, and either completes or raises before changing
anything; every write is fenced by the lease token, and every decision (retry or fail, next
run_at, the event's words, dispatch order, what is due) comes from rota.lifecycle.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rota.errors import RotaError
from rota.ids import new_lease_token
from rota.jobs import Job, JobState, Lease
from rota.lifecycle import (
    Decision,
    EventKind,
    RetryLater,
    after_failure,
    after_lost_lease,
    dispatch_key,
    held_ahead,
    is_due,
    progress_message,
    reaped_message,
    start_moment,
    started_message,
    stopped_message,
)
from rota.store.base import AcquireRequest, Outcome, Settled, Success, claimable
from rota.store.common import stale_lease
from rota.store.memory_data import ENDED, MemoryData, span
from rota.types import JSON


def acquire(data: MemoryData, request: AcquireRequest, now: datetime) -> list[Job]:
    """Claim due jobs for the worker, in dispatch order."""
    if request.limit <= 0 or not request.queues:
        return []
    queues = set(request.queues)
    open_, targets = claimable(request)
    tags = set(targets)
    tasks = None if request.tasks is None else set(request.tasks)
    eligible = [
        job
        for job in map(data.jobs.__getitem__, data.pending)
        if job.queue in queues
        and (tasks is None or job.task in tasks)
        and ((open_ and job.target in (None, request.worker)) or job.target in tags)
        and is_due(job, now, horizon_s=request.horizon_s, lead_s=request.lead_s)
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
            started_at=start_moment(job, now),
            progress=None,
            progress_message=None,
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
    """Make the worker's leases expire within grace_s, unless its entry is online or
    draining again (see Store.expire_leases_of); return how many it touched."""
    entry = data.workers.get(worker)
    if entry is not None and entry.state != "offline":
        return 0
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
        **ENDED,
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
    common: dict[str, Any] = {"error": decision.error, "traceback": decision.traceback, **ENDED}
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
            run_at=max(job.run_at, now),  # a reminder given back early keeps its time
            prior_attempts=job.prior_attempts + 1,
            progress=None,
            progress_message=None,
            **ENDED,
        )
        data.log(job, EventKind.RELEASED, now)
        return job
    if job.state is not JobState.CANCELLED:
        raise stale_lease(lease, job)
    job = data.change(job, now, **ENDED)
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
    job = data.change(leased(data, lease), now, progress=progress, progress_message=message)
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
            changed.append(data.change(job, now, **ENDED))
            continue
        if held_ahead(job, now):  # a device went away before the job was due
            changed.append(release(data, Lease(job_id=job.id, token=job.lease_token or ""), now))
            continue
        changed.append(apply_decision(data, job, after_lost_lease(job), now))
    return changed
