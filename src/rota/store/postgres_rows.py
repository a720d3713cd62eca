"""Conversions between PostgreSQL records and Rota's values: jobs, events, workers, specs.

Validation and JSON encoding are the SQLite store's own functions (sqlite_rows), so both
backends refuse the same input with the same message.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime
from typing import Any, overload

from rota.errors import InvalidInput, StaleLease
from rota.jobs import Event, Job, JobSpec, Lease
from rota.store.base import WorkerInfo
from rota.store.common import Fingerprints, JobIds, job_from_row, spec_params, to_us
from rota.store.common import stale_lease as common_stale_lease
from rota.store.postgres_conn import Record


@overload
def aware(moment: datetime) -> datetime: ...
@overload
def aware(moment: None) -> None: ...
@overload
def aware(moment: datetime | None) -> datetime | None: ...
def aware(moment: datetime | None) -> datetime | None:
    """Return the moment unchanged after checking it is aware (InvalidInput if naive)."""
    if moment is not None:
        to_us(moment)
    return moment


def _timestamp(value: datetime) -> datetime:
    return value


def row_to_job(row: Record) -> Job:
    """Return the Job a jobs record holds (timestamptz columns come as aware datetimes)."""
    return job_from_row(row, _timestamp)


def row_to_event(row: Record) -> Event:
    """Return the Event an events record holds."""
    return Event(
        id=row["id"],
        job_id=row["job_id"],
        attempt=row["attempt"],
        at=row["at"],
        kind=row["kind"],
        worker=row["worker"],
        message=row["message"],
    )


def row_to_worker(row: Record) -> WorkerInfo:
    """Return the WorkerInfo a workers record holds."""
    return WorkerInfo(
        name=row["name"],
        queues=list(row["queues"]),
        tags=list(row["tags"]),
        tasks=list(row["tasks"]),
        capacity=row["capacity"],
        running=row["running"],
        state=row["state"],
        server=row["server"],
        connected_at=row["connected_at"],
        last_seen_at=row["last_seen_at"],
        resources=json.loads(row["resources"]),
        session_digest=row["session_digest"],
    )


def stale_lease(lease: Lease, row: Record | None) -> StaleLease:
    """Return the StaleLease error for a lease whose job is now `row` (None: no such job)."""
    return common_stale_lease(lease, None if row is None else row_to_job(row))


_SUBMIT_COLUMNS = (
    "ids",
    "tasks",
    "args",
    "kwargs",
    "queues",
    "priorities",
    "run_ats",
    "targets",
    "max_attempts",
    "backoffs",
    "timeouts",
    "deadlines",
    "keys",
    "schedule_ids",
    "fingerprints",
)


def submit_columns(
    specs: Sequence[JobSpec], ids: JobIds, id_time: datetime
) -> tuple[dict[str, list[Any]], list[str | None]]:
    """Validate the specs and return the submit query's column arrays, one entry per job
    to insert, plus for every spec the id it will get or None when its idempotency key was
    already used earlier in the same batch (that spec gets the earlier one's job)."""
    columns: dict[str, list[Any]] = {name: [] for name in _SUBMIT_COLUMNS}
    planned: list[str | None] = []
    keys_seen: set[str] = set()
    fingerprints: Fingerprints = {}
    for index, spec in enumerate(specs):
        key = spec.idempotency_key
        if key is not None and key in keys_seen:
            planned.append(None)
            continue
        job_id = ids.next(id_time)
        # Validates the spec and encodes its JSON exactly as the SQLite store does.
        params = spec_params(index, spec, job_id, 0, fingerprints)
        if key is not None:
            if not isinstance(key, str):
                raise InvalidInput(f"job {index}: idempotency_key must be a string")
            keys_seen.add(key)
        for column, value in (
            ("ids", job_id),
            ("tasks", params["task"]),
            ("args", params["args"]),
            ("kwargs", params["kwargs"]),
            ("queues", params["queue"]),
            ("priorities", params["priority"]),
            ("run_ats", spec.run_at),
            ("targets", params["target"]),
            ("max_attempts", params["max_attempts"]),
            ("backoffs", params["backoff"]),
            ("timeouts", params["timeout_s"]),
            ("deadlines", spec.deadline_at),
            ("keys", key),
            ("schedule_ids", params["schedule_id"]),
            ("fingerprints", params["fingerprint"]),
        ):
            columns[column].append(value)
        planned.append(job_id)
    return columns, planned


def log_columns(events: Sequence[Event]) -> dict[str, list[Any]]:
    """Return the insert_log_events query's column arrays for these lines."""
    return {
        "job_ids": [event.job_id for event in events],
        "attempts": [event.attempt for event in events],
        "ats": [aware(event.at) for event in events],
        "kinds": [event.kind for event in events],
        "workers": [event.worker for event in events],
        "messages": [event.message for event in events],
    }
