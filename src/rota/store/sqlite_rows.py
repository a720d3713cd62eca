"""SQLite rows to Rota's values (jobs, events, workers), and parameters only SQLite needs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from typing import Any

from rota.jobs import Event, Job, JobState
from rota.retry import Backoff
from rota.store.base import WorkerInfo
from rota.store.common import from_us, maybe_from_us


def row_to_job(row: sqlite3.Row) -> Job:
    """Return the Job a jobs row holds."""
    result = row["result"]
    return Job(
        id=row["id"],
        task=row["task"],
        args=json.loads(row["args"]),
        kwargs=json.loads(row["kwargs"]),
        queue=row["queue"],
        priority=row["priority"],
        state=JobState(row["state"]),
        run_at=from_us(row["run_at"]),
        target=row["target"],
        max_attempts=row["max_attempts"],
        backoff=Backoff(**json.loads(row["backoff"])),
        timeout_s=row["timeout_s"],
        deadline_at=maybe_from_us(row["deadline_at"]),
        idempotency_key=row["idempotency_key"],
        schedule_id=row["schedule_id"],
        attempt=row["attempt"],
        prior_attempts=row["prior_attempts"],
        lease_token=row["lease_token"],
        lease_expires_at=maybe_from_us(row["lease_expires_at"]),
        worker=row["worker"],
        result=None if result is None else json.loads(result),
        error=row["error"],
        traceback=row["traceback"],
        progress=row["progress"],
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
        started_at=maybe_from_us(row["started_at"]),
        finished_at=maybe_from_us(row["finished_at"]),
        stop_requested_at=maybe_from_us(row["stop_requested_at"]),
    )


def row_to_event(row: sqlite3.Row) -> Event:
    """Return the Event an events row holds."""
    return Event(
        id=row["id"],
        job_id=row["job_id"],
        attempt=row["attempt"],
        at=from_us(row["at"]),
        kind=row["kind"],
        worker=row["worker"],
        message=row["message"],
    )


def row_to_worker(row: sqlite3.Row) -> WorkerInfo:
    """Return the WorkerInfo a workers row holds."""
    return WorkerInfo(
        name=row["name"],
        queues=json.loads(row["queues"]),
        tags=json.loads(row["tags"]),
        tasks=json.loads(row["tasks"]),
        capacity=row["capacity"],
        running=row["running"],
        state=row["state"],
        server=row["server"],
        connected_at=maybe_from_us(row["connected_at"]),
        last_seen_at=maybe_from_us(row["last_seen_at"]),
        resources=json.loads(row["resources"]),
    )


def event_params(
    job: Job, kind: str, at_us: int, message: str | None = None, *, worker: str | None = None
) -> dict[str, Any]:
    """Return the insert_event parameters of an event about `job`."""
    return {
        "job_id": job.id,
        "attempt": job.attempt,
        "at": at_us,
        "kind": kind,
        "worker": worker if worker is not None else job.worker,
        "message": message,
    }


def json_list(values: Sequence[str] | None) -> str | None:
    """Return a list parameter as a JSON array for json_each, None staying None."""
    return None if values is None else json.dumps(list(values))
