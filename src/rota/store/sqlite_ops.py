"""The SQLite store's write operations: each runs on the writer's connection, inside the
writer's transaction, and either completes or raises (its savepoint is then rolled back)."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Mapping, Sequence
from datetime import datetime
from typing import Any, NoReturn

from rota.errors import InvalidInput, JobNotFound
from rota.jobs import Event, Job, JobSpec, JobState, Lease
from rota.lifecycle import (
    EDIT_MARGIN_S,
    EXPIRED_MESSAGE,
    Decision,
    EventKind,
    RetryLater,
    after_failure,
    after_lost_lease,
    cancelled_message,
    held_ahead,
    progress_message,
    reaped_message,
    started_message,
    stopped_message,
    updated_message,
)
from rota.store.base import AcquireRequest, JobChanges, WorkerInfo, claimable
from rota.store.common import (
    Fingerprints,
    JobIds,
    check_same_submission,
    dump_json,
    refusal,
    spec_params,
    stale_lease,
    to_us,
)
from rota.store.names import NameClaim, NameHeld, held_elsewhere
from rota.store.sqlite_rows import (
    NewJobMoments,
    event_params,
    insert_job_values,
    json_list,
    new_job,
    row_to_job,
    row_to_worker,
)
from rota.types import JSON

Queries = Mapping[str, str]


def _one(conn: sqlite3.Connection, sql: str, params: Mapping[str, Any]) -> Any:
    # Step every statement to its end so none is left in progress at RELEASE or COMMIT.
    rows = conn.execute(sql, params).fetchall()
    return rows[0] if rows else None


def submit(
    conn: sqlite3.Connection, q: Queries, ids: JobIds, specs: Sequence[JobSpec], now: datetime
) -> list[Job]:
    """Insert the new jobs, returning existing ones for known idempotency keys (or raising
    IdempotencyConflict when a key's job was submitted differently).

    A set at a time, whatever the number of specs: one query finds the keys' jobs, one
    executemany inserts the new jobs and one statement their events; the new jobs are made
    from the parameters inserted (new_job), not read back.
    """
    now_us = to_us(now)
    fingerprints: Fingerprints = {}
    keys = list(dict.fromkeys(s.idempotency_key for s in specs if s.idempotency_key is not None))
    stored: dict[str, tuple[Job, str | None]] = {}
    if keys:
        for row in conn.execute(q["get_jobs_by_keys"], {"keys": json.dumps(keys)}):
            stored[row["idempotency_key"]] = (row_to_job(row), row["fingerprint"])
    # Each spec's place in the answer: a stored job, or the index of a new one's params.
    places: list[Job | int] = []
    new: list[dict[str, Any]] = []
    made: dict[str, tuple[int, int]] = {}  # key -> (the spec's index, its params' index)
    for index, spec in enumerate(specs):
        key = spec.idempotency_key
        if key is not None and key in stored:
            holder, held = stored[key]
            check_same_submission(spec, holder, held)
            places.append(holder)
            continue
        if key is not None and key in made:
            earlier, position = made[key]
            check_same_submission(spec, None, new[position]["fingerprint"], batch=(index, earlier))
            places.append(position)
            continue
        params = spec_params(index, spec, ids.next(now), now_us, fingerprints)
        if key is not None:
            made[key] = (index, len(new))
        places.append(len(new))
        new.append(params)
    if not new:
        return [place for place in places if isinstance(place, Job)]
    conn.executemany(q["insert_job"], map(insert_job_values, new))
    moments = NewJobMoments(now_us)
    created = [new_job(params, moments) for params in new]
    ids_text = json.dumps([job.id for job in created])
    conn.execute(q["insert_submitted_events"], {"ids": ids_text, "at": now_us}).close()
    return [place if isinstance(place, Job) else created[place] for place in places]


def acquire(
    conn: sqlite3.Connection, q: Queries, request: AcquireRequest, now: datetime
) -> list[Job]:
    """Claim due jobs for the worker, in dispatch order."""
    if request.lease_s <= 0:
        raise InvalidInput("lease_s must be positive")
    if request.limit <= 0 or not request.queues:
        return []
    now_us = to_us(now)
    open_, targets = claimable(request)
    rows = conn.execute(
        q["acquire"],
        {
            "worker": request.worker,
            "queues": json_list(list(dict.fromkeys(request.queues))),
            "open": open_,
            "tags": json_list(targets),
            "tasks": json_list(request.tasks),
            "limit": request.limit,
            "now": now_us,
            "until": now_us + round(max(0.0, request.horizon_s) * 1_000_000),
            "lead_until": now_us + round(max(0.0, request.lead_s) * 1_000_000),
            "lease_expires_at": now_us + round(request.lease_s * 1_000_000),
        },
    ).fetchall()
    # RETURNING gives no order; hand the jobs over in the order they were chosen.
    jobs = sorted(map(row_to_job, rows), key=lambda job: (-job.priority, job.run_at, job.id))
    conn.executemany(
        q["insert_event"],
        [event_params(job, EventKind.STARTED, now_us, started_message(job)) for job in jobs],
    )
    return jobs


def extend(
    conn: sqlite3.Connection,
    q: Queries,
    worker: str,
    tokens: Sequence[str],
    lease_s: float,
    now: datetime,
) -> dict[str, JobState]:
    """Extend the worker's leases; return the state of each valid one's job by token."""
    if not tokens:
        return {}
    now_us = to_us(now)
    params = {
        "worker": worker,
        "tokens": json_list(tokens),
        "now": now_us,
        "lease_expires_at": now_us + round(lease_s * 1_000_000),
    }
    return {row["lease_token"]: JobState(row["state"]) for row in conn.execute(q["extend"], params)}


def expire_leases_of(
    conn: sqlite3.Connection, q: Queries, worker: str, grace_s: float, now: datetime
) -> int:
    """Make the worker's leases expire within grace_s; return how many it touched."""
    now_us = to_us(now)
    cursor = conn.execute(
        q["expire_leases_of"],
        {"worker": worker, "now": now_us, "lease_expires_at": now_us + round(grace_s * 1e6)},
    )
    return cursor.rowcount


def leased(conn: sqlite3.Connection, q: Queries, lease: Lease) -> Job:
    """Return the job the lease is current for, or raise StaleLease saying why not."""
    row = _one(conn, q["get_leased_job"], {"id": lease.job_id, "token": lease.token})
    if row is not None:
        return row_to_job(row)
    row = _one(conn, q["get_job"], {"id": lease.job_id})
    raise stale_lease(lease, None if row is None else row_to_job(row))


def complete(
    conn: sqlite3.Connection, q: Queries, lease: Lease, result: JSON, now: datetime
) -> Job:
    """Mark the leased job succeeded."""
    return complete_encoded(conn, q, lease, dump_json(result, "the result"), now)


def complete_encoded(
    conn: sqlite3.Connection, q: Queries, lease: Lease, result: str, now: datetime
) -> Job:
    """Mark the leased job succeeded with a result already encoded as JSON text."""
    now_us = to_us(now)
    params = {"id": lease.job_id, "token": lease.token, "result": result, "now": now_us}
    row = _one(conn, q["complete"], params)
    if row is None:
        leased(conn, q, lease)  # raises StaleLease with the reason
    job = row_to_job(row)
    conn.execute(q["insert_event"], event_params(job, EventKind.SUCCEEDED, now_us))
    return job


def fail(
    conn: sqlite3.Connection,
    q: Queries,
    lease: Lease,
    now: datetime,
    *,
    error: str,
    traceback: str | None,
    retryable: bool,
) -> Job:
    """Record a failed attempt of the leased job, as the lifecycle rules decide."""
    job = leased(conn, q, lease)
    decision = after_failure(job, error=error, traceback=traceback, retryable=retryable)
    return apply_decision(conn, q, job, decision, now)


def reap(conn: sqlite3.Connection, q: Queries, now: datetime) -> list[Job]:
    """Treat every expired lease of a running job as a lost attempt; end those of
    stopping cancelled jobs."""
    now_us = to_us(now)
    jobs = [row_to_job(row) for row in conn.execute(q["expired_leases"], {"now": now_us})]
    changed = []
    for job in jobs:
        conn.execute(
            q["insert_event"], event_params(job, EventKind.REAPED, now_us, reaped_message(job))
        )
        if job.state is not JobState.RUNNING:
            # A job cancelled while it ran: its code is presumed gone with its worker.
            params = {"id": job.id, "token": job.lease_token, "now": now_us}
            changed.append(row_to_job(_one(conn, q["end_stopped_lease"], params)))
            continue
        if held_ahead(job, now):  # a device went away before the job was due
            lease = Lease(job_id=job.id, token=job.lease_token or "")
            changed.append(release(conn, q, lease, now))
            continue
        changed.append(apply_decision(conn, q, job, after_lost_lease(job), now))
    return changed


def apply_decision(
    conn: sqlite3.Connection, q: Queries, job: Job, decision: Decision, now: datetime
) -> Job:
    """Apply the lifecycle's decision about the running `job` as a write fenced by its
    lease token, with its event; StaleLease if the lease is no longer current."""
    now_us = to_us(now)
    params: dict[str, Any] = {
        "id": job.id,
        "token": job.lease_token,
        "error": decision.error,
        "traceback": decision.traceback,
        "now": now_us,
    }
    if isinstance(decision, RetryLater):
        params["run_at"] = to_us(decision.run_at(job, now))
        row = _one(conn, q["retry_later"], params)
    else:
        row = _one(conn, q["fail_final"], params)
    if row is None:
        raise stale_lease(Lease(job_id=job.id, token=job.lease_token or ""), job)
    after = row_to_job(row)
    conn.execute(q["insert_event"], event_params(after, decision.kind, now_us, decision.message))
    return after


def release(conn: sqlite3.Connection, q: Queries, lease: Lease, now: datetime) -> Job:
    """Give the leased job back unrun, or end the lease of a cancelled job whose code stopped."""
    now_us = to_us(now)
    params = {"id": lease.job_id, "token": lease.token, "now": now_us}
    row = _one(conn, q["release"], params)
    if row is not None:
        job = row_to_job(row)
        conn.execute(q["insert_event"], event_params(job, EventKind.RELEASED, now_us))
        return job
    row = _one(conn, q["end_stopped_lease"], params)
    if row is None:
        leased(conn, q, lease)  # raises StaleLease with the reason
    job = row_to_job(row)
    conn.execute(
        q["insert_event"], event_params(job, EventKind.STOPPED, now_us, stopped_message(job))
    )
    return job


def report_stopping(
    conn: sqlite3.Connection, q: Queries, lease: Lease, message: str, now: datetime
) -> Job:
    """Mark the leased job stopping and log why."""
    now_us = to_us(now)
    params = {"id": lease.job_id, "token": lease.token, "now": now_us}
    row = _one(conn, q["report_stopping"], params)
    if row is None:
        leased(conn, q, lease)
    job = row_to_job(row)
    conn.execute(q["insert_event"], event_params(job, EventKind.STOPPING, now_us, message))
    return job


def cancel(conn: sqlite3.Connection, q: Queries, job_id: str, now: datetime) -> Job:
    """Cancel a pending or running job; a running one keeps its lease until its code stopped."""
    now_us = to_us(now)
    row = _one(conn, q["cancel"], {"id": job_id, "now": now_us})
    if row is None:
        _refuse(conn, q, "cancel", job_id)
    job = row_to_job(row)
    conn.execute(
        q["insert_event"], event_params(job, EventKind.CANCELLED, now_us, cancelled_message(job))
    )
    return job


def report_progress(
    conn: sqlite3.Connection,
    q: Queries,
    lease: Lease,
    progress: float | None,
    message: str | None,
    now: datetime,
) -> None:
    """Store the leased job's progress and log the message."""
    if progress is not None and not 0.0 <= progress <= 1.0:
        raise InvalidInput("progress is a fraction between 0 and 1")
    now_us = to_us(now)
    params = {
        "id": lease.job_id,
        "token": lease.token,
        "progress": progress,
        "note": message,
        "now": now_us,
    }
    row = _one(conn, q["report_progress"], params)
    if row is None:
        leased(conn, q, lease)
    conn.execute(
        q["insert_event"],
        {
            "job_id": lease.job_id,
            "attempt": row["attempt"],
            "at": now_us,
            "kind": EventKind.PROGRESS,
            "worker": row["worker"],
            "message": progress_message(progress, message),
        },
    )


def log(conn: sqlite3.Connection, q: Queries, events: Sequence[Event]) -> None:
    """Append logged lines of existing jobs."""
    conn.executemany(
        q["insert_log_event"],
        [
            {
                "job_id": event.job_id,
                "attempt": event.attempt,
                "at": to_us(event.at),
                "kind": event.kind,
                "worker": event.worker,
                "message": event.message,
            }
            for event in events
        ],
    )


def expire_overdue(conn: sqlite3.Connection, q: Queries, now: datetime) -> list[Job]:
    """Expire pending jobs whose deadline passed."""
    now_us = to_us(now)
    jobs = [row_to_job(row) for row in conn.execute(q["expire_overdue"], {"now": now_us})]
    conn.executemany(
        q["insert_event"],
        [event_params(job, EventKind.EXPIRED, now_us, EXPIRED_MESSAGE) for job in jobs],
    )
    return sorted(jobs, key=lambda job: job.id)


def change(
    conn: sqlite3.Connection,
    q: Queries,
    verb: str,
    job_id: str,
    now: datetime,
    params: Mapping[str, Any] | None = None,
    message: str | None = None,
) -> Job:
    """Run one of the cancel, retry or update_job queries on a job and log its event."""
    now_us = to_us(now)
    row = _one(conn, q[verb], {"id": job_id, "now": now_us, **(params or {})})
    if row is None:
        _refuse(conn, q, verb, job_id)
    job = row_to_job(row)
    kind = {
        "cancel": EventKind.CANCELLED,
        "retry": EventKind.RETRIED,
        "update_job": EventKind.UPDATED,
    }[verb]
    conn.execute(q["insert_event"], event_params(job, kind, now_us, message))
    return job


def _refuse(conn: sqlite3.Connection, q: Queries, verb: str, job_id: str) -> NoReturn:
    existing = _one(conn, q["get_job"], {"id": job_id})
    if existing is None:
        raise JobNotFound(f"no job has the id {job_id}")
    raise refusal(verb, row_to_job(existing))


def update(
    conn: sqlite3.Connection, q: Queries, job_id: str, changes: JobChanges, now: datetime
) -> Job:
    """Change a pending job's run_at, priority or arguments."""
    if changes.priority is not None and (
        isinstance(changes.priority, bool) or not isinstance(changes.priority, int)
    ):
        raise InvalidInput("priority must be an integer")
    if changes.args is not None and not isinstance(changes.args, list):
        raise InvalidInput("args must be a list")
    if changes.kwargs is not None and not isinstance(changes.kwargs, dict):
        raise InvalidInput("kwargs must be a mapping")
    params = {
        "run_at": None if changes.run_at is None else to_us(changes.run_at),
        "priority": changes.priority,
        "args": None if changes.args is None else dump_json(changes.args, "args"),
        "kwargs": None if changes.kwargs is None else dump_json(changes.kwargs, "kwargs"),
    }
    fields = [name for name, value in params.items() if value is not None]
    margin = {"edit_margin_us": round(EDIT_MARGIN_S * 1_000_000)}
    return change(conn, q, "update_job", job_id, now, params | margin, updated_message(fields))


def register_worker(
    conn: sqlite3.Connection,
    q: Queries,
    info: WorkerInfo,
    claim: NameClaim | None,
    now: datetime,
) -> NameHeld | None:
    """Insert or replace the worker's entry as online, unless (with a claim) a live
    connection elsewhere holds the name: then change nothing and return what holds it."""
    now_us = to_us(now)
    if claim is not None:
        row = conn.execute(q["get_worker"], {"name": info.name}).fetchone()
        holder = None if row is None else row_to_worker(row)
        if holder is not None and held_elsewhere(holder, claim, server=info.server, now=now):
            return NameHeld(server=holder.server, last_seen_at=holder.last_seen_at)
    conn.execute(
        q["register_worker"],
        {
            "name": info.name,
            "queues": json_list(info.queues),
            "tags": json_list(info.tags),
            "tasks": json_list(info.tasks),
            "capacity": info.capacity,
            "running": info.running,
            "server": info.server,
            "connected_at": now_us if info.connected_at is None else to_us(info.connected_at),
            "resources": dump_json(info.resources, "resources"),
            "session_digest": info.session_digest,
            "now": now_us,
        },
    )
    return None


def worker_gone(
    conn: sqlite3.Connection, q: Queries, params: Mapping[str, Any], now: datetime
) -> bool:
    """Mark the worker offline (see Store.worker_gone); tell whether its entry changed."""
    return conn.execute(q["worker_gone"], {**params, "now": to_us(now)}).rowcount > 0
