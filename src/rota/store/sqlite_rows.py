"""SQLite rows to Rota's values (jobs, events, workers), and parameters only SQLite needs."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Sequence
from datetime import datetime
from operator import itemgetter
from typing import Any

from rota.jobs import Event, Job, JobState
from rota.store.base import WorkerInfo
from rota.store.common import (
    from_us,
    job_from_row,
    load_backoff,
    load_dict,
    load_list,
    maybe_from_us,
)


def row_to_job(row: sqlite3.Row | dict[str, Any]) -> Job:
    """Return the Job a jobs row holds (moments are integer microseconds)."""
    return job_from_row(row, from_us)


_NEW_JOB_COLUMNS = {
    "state": "pending",
    "attempt": 0,
    "prior_attempts": 0,
    "lease_token": None,
    "lease_expires_at": None,
    "worker": None,
    "result": None,
    "error": None,
    "traceback": None,
    "progress": None,
    "progress_message": None,
    "started_at": None,
    "finished_at": None,
    "stop_requested_at": None,
}
"""The columns insert_job leaves to their defaults (or sets from nothing the spec gives)."""


insert_job_values: Any = itemgetter(
    "id",
    "task",
    "args",
    "kwargs",
    "queue",
    "priority",
    "run_at",
    "target",
    "max_attempts",
    "backoff",
    "timeout_s",
    "deadline_at",
    "idempotency_key",
    "schedule_id",
    "fingerprint",
    "now",
    "now",
)
"""Return the values of insert_job, in its order, from a spec_params dict (a tuple)."""


def new_job_row(params: dict[str, Any]) -> dict[str, Any]:
    """Return the row insert_job writes with these parameters (see common.spec_params), to
    make the Job from without reading it back; the contract tests compare the two."""
    row = params | _NEW_JOB_COLUMNS
    row["created_at"] = row["updated_at"] = params["now"]
    return row


class NewJobMoments:
    """The moments of one submission's new jobs, each made once (most share `now`)."""

    def __init__(self, now_us: int) -> None:
        self.now_us = now_us
        self._made: dict[int, datetime] = {now_us: from_us(now_us)}

    def of(self, value: int) -> datetime:
        """Return from_us(value)."""
        made = self._made.get(value)
        if made is None:
            made = self._made[value] = from_us(value)
        return made


def new_job(params: dict[str, Any], moments: NewJobMoments) -> Job:
    """Return `row_to_job(new_job_row(params))`, the job insert_job writes with these
    parameters (see common.spec_params), at less cost: JSON text that is empty or the
    default backoff is not decoded, moments are made once (the contract tests compare it
    with the row read back, and tests/unit/test_submit_rows.py with row_to_job)."""
    args, kwargs, backoff = params["args"], params["kwargs"], params["backoff"]
    deadline = params["deadline_at"]
    now = moments.of(params["now"])
    return Job(
        id=params["id"],
        task=params["task"],
        args=load_list(args),
        kwargs=load_dict(kwargs),
        queue=params["queue"],
        priority=params["priority"],
        state=JobState.PENDING,
        run_at=moments.of(params["run_at"]),
        target=params["target"],
        max_attempts=params["max_attempts"],
        backoff=load_backoff(backoff),
        timeout_s=params["timeout_s"],
        deadline_at=None if deadline is None else moments.of(deadline),
        idempotency_key=params["idempotency_key"],
        schedule_id=params["schedule_id"],
        attempt=0,
        prior_attempts=0,
        lease_token=None,
        lease_expires_at=None,
        worker=None,
        result=None,
        error=None,
        traceback=None,
        progress=None,
        progress_message=None,
        created_at=now,
        updated_at=now,
        started_at=None,
        finished_at=None,
        stop_requested_at=None,
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
        session_digest=row["session_digest"],
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
