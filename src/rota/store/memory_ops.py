"""The in-memory store's writes other than lease verbs (memory_leases): submit, cancel, retry,
update, deadlines, retention and the worker registry. Each runs under the data's lock, as
one atomic step, and either completes or raises before changing anything.

Every decision (retry or fail, next run_at, the event's words, dispatch order, what is due
or overdue) comes from rota.lifecycle; these functions only apply them, each write fenced
by the lease token as in the SQL stores.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime
from typing import Any

from rota.jobs import Job, JobSpec, JobState
from rota.lifecycle import (
    EXPIRED_MESSAGE,
    EventKind,
    cancelled_message,
    editable_held,
    is_overdue,
    updated_message,
)
from rota.store.base import WorkerInfo
from rota.store.common import check_same_submission, refusal, spec_params
from rota.store.memory_data import ENDED, MemoryData
from rota.store.names import NameClaim, NameHeld, held_elsewhere
from rota.types import JSON


def copy_json(text: str) -> Any:
    """Return the value JSON text holds: a stored value never shares state with the caller's."""
    return json.loads(text)


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
        **ENDED,
    )
    data.log(job, EventKind.RETRIED, now)
    return job


def update(data: MemoryData, job_id: str, values: dict[str, Any], now: datetime) -> Job:
    """Change a pending job's fields (already checked) and log which; a job held ahead of
    its time goes back to pending with them, its lease ended (the claim does not count),
    while it is at least EDIT_MARGIN_S from its start (rota.lifecycle.editable_held)."""
    job = data.job(job_id)
    if editable_held(job, now):
        values = {
            **values,
            "state": JobState.PENDING,
            "prior_attempts": job.prior_attempts + 1,
            "progress": None,
            "progress_message": None,
            **ENDED,
        }
    elif job.state is not JobState.PENDING:
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
            data.worker_samples.pop(name, None)
    return len(gone)


def register_worker(
    data: MemoryData, info: WorkerInfo, claim: NameClaim | None, resources: JSON, now: datetime
) -> NameHeld | None:
    """Insert or replace the worker's entry as online (`resources` already copied), unless
    (with a claim) a live connection elsewhere holds the name: then return what holds it."""
    holder = data.workers.get(info.name)
    if claim is not None and holder is not None:
        if held_elsewhere(holder, claim, server=info.server, now=now):
            return NameHeld(server=holder.server, last_seen_at=holder.last_seen_at)
    data.workers[info.name] = WorkerInfo(
        name=info.name,
        queues=list(info.queues),
        tags=list(info.tags),
        tasks=list(info.tasks),
        capacity=info.capacity,
        running=info.running,
        state="online",
        server=info.server,
        connected_at=info.connected_at or now,
        last_seen_at=now,
        resources=resources,
        session_digest=info.session_digest,
    )
    return None


def worker_changed(
    data: MemoryData, name: str, session_digest: str | None, now: datetime, **changes: Any
) -> bool:
    """Change a registered worker's fields and last_seen_at = now, with a session_digest
    only while its entry holds that session; tell whether it changed (an unknown name
    does not)."""
    worker = data.workers.get(name)
    if worker is None or session_digest not in (None, worker.session_digest):
        return False
    data.workers[name] = replace(worker, last_seen_at=now, **changes)
    return True
