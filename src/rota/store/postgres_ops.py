"""The PostgreSQL store's verbs that take more than one statement, each on one connection.

A verb that must not half-happen runs in one transaction; a verb whose change is a single
statement runs it alone and reads more only to say why nothing matched.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rota.errors import JobNotFound
from rota.jobs import Event, Job, JobSpec, JobState, Lease
from rota.lifecycle import (
    Decision,
    EventKind,
    RetryLater,
    after_failure,
    after_lost_lease,
    cancelled_message,
    held_ahead,
    reaped_message,
    stopped_message,
)
from rota.store.common import check_same_submission, refusal
from rota.store.postgres_conn import Connection
from rota.store.postgres_rows import row_to_event, row_to_job, stale_lease
from rota.store.postgres_sql import Statements
from rota.store.queries import Migration
from rota.types import JobId


async def migrate(
    conn: Connection, sql: Statements, schema: str, migrations: Sequence[Migration]
) -> int:
    """Create the schema if needed and apply the migrations it lacks, in one transaction
    under an advisory lock on the schema's name; return how many were applied."""
    async with conn.transaction():
        await sql.value(conn, "advisory_lock", schema=schema)
        await conn.execute(await sql.value(conn, "create_schema_statement", schema=schema))
        await conn.execute(sql.text("create_schema_version"))
        done = {row["version"] for row in await sql.all(conn, "schema_versions")}
        applied = 0
        for migration in migrations:
            if migration.version in done:
                continue
            for statement in migration.statements:
                await conn.execute(statement)
            await sql.all(conn, "record_migration", version=migration.version)
            applied += 1
        return applied


async def submit(
    conn: Connection,
    sql: Statements,
    columns: dict[str, list[Any]],
    specs: Sequence[JobSpec],
    planned: Sequence[str | None],
) -> list[Job]:
    """Insert the new jobs in one statement and return the job of every spec, in order: its
    new job, or the job its idempotency key already names. IdempotencyConflict (and nothing
    inserted) when a key's job was submitted differently.

    A single spec, or specs without idempotency keys, go without BEGIN and COMMIT: the
    statement is all or none by itself, and a single spec refused for its key inserted
    nothing (a taken key's job is read after it, on the same connection). Several specs
    with keys run in a transaction, so a refused one takes back the others.
    """
    if len(specs) == 1 or not any(spec.idempotency_key for spec in specs):
        return await _submit(conn, sql, columns, specs, planned)
    async with conn.transaction():
        return await _submit(conn, sql, columns, specs, planned)


async def _submit(
    conn: Connection,
    sql: Statements,
    columns: dict[str, list[Any]],
    specs: Sequence[JobSpec],
    planned: Sequence[str | None],
) -> list[Job]:
    rows = await sql.all(conn, "submit", **columns)
    new = {row["id"]: row_to_job(row) for row in rows}
    by_key = {
        row["idempotency_key"]: (new[row["id"]], row["fingerprint"])
        for row in rows
        if row["idempotency_key"] is not None
    }
    keys = sorted({spec.idempotency_key for spec in specs if spec.idempotency_key})
    taken = [key for key in keys if key not in by_key]
    if taken:
        for row in await sql.all(conn, "get_jobs_by_key", keys=taken):
            by_key[row["idempotency_key"]] = (row_to_job(row), row["fingerprint"])
    made_by = {job_id: index for index, job_id in enumerate(planned) if job_id is not None}
    jobs = []
    for index, (spec, job_id) in enumerate(zip(specs, planned, strict=True)):
        key = spec.idempotency_key
        if key is None:
            jobs.append(new[str(job_id)])
            continue
        holder, held = by_key[key]
        if holder.id != job_id:  # inserted by an earlier spec, or before this batch
            earlier = made_by.get(holder.id)
            batch = None if earlier is None else (index, earlier)
            check_same_submission(spec, holder, held, batch=batch)
        jobs.append(holder)
    return jobs


async def leased(
    conn: Connection, sql: Statements, name: str, lease: Lease, /, **params: Any
) -> Job:
    """Run a fenced one-statement verb on the lease's job; StaleLease, saying why, if the
    token is not current."""
    row = await sql.row(conn, name, id=lease.job_id, token=lease.token, **params)
    if row is None:
        raise stale_lease(lease, await sql.row(conn, "get_job", id=lease.job_id))
    return row_to_job(row)


async def report_progress(
    conn: Connection,
    sql: Statements,
    lease: Lease,
    progress: float | None,
    message: str | None,
    note: str | None,
) -> None:
    """Store the progress and the task's own message (`note`, kept on the job) and log
    `message` (the event's words), fenced by the lease."""
    params = {"id": lease.job_id, "token": lease.token, "progress": progress, "note": note}
    if await sql.row(conn, "report_progress", message=message, **params) is None:
        raise stale_lease(lease, await sql.row(conn, "get_job", id=lease.job_id))


async def change(
    conn: Connection, sql: Statements, name: str, job_id: JobId, /, **params: Any
) -> Job:
    """Run cancel, retry or update_job; JobNotFound or InvalidTransition if it was refused."""
    row = await sql.row(conn, name, id=job_id, **params)
    if row is not None:
        return row_to_job(row)
    current = await sql.row(conn, "get_job", id=job_id)
    if current is None:
        raise JobNotFound(f"no job has the id {job_id}")
    raise refusal(name, row_to_job(current))


async def cancel(conn: Connection, sql: Statements, job_id: JobId) -> Job:
    """Cancel a pending or running job, and log it; a running job keeps its lease until its
    worker says the attempt's code stopped."""
    async with conn.transaction():
        job = await change(conn, sql, "cancel", job_id)
        await _log(conn, sql, job, EventKind.CANCELLED, cancelled_message(job))
        return job


async def release(conn: Connection, sql: Statements, lease: Lease) -> Job:
    """Give a running job back unrun, or end the lease of a job cancelled while it ran whose
    code has stopped; StaleLease, saying why, if the token is not held."""
    row = await sql.row(conn, "release", id=lease.job_id, token=lease.token)
    if row is not None:
        return row_to_job(row)
    async with conn.transaction():
        row = await sql.row(conn, "end_stopped_lease", id=lease.job_id, token=lease.token)
        if row is None:
            raise stale_lease(lease, await sql.row(conn, "get_job", id=lease.job_id))
        job = row_to_job(row)
        await _log(conn, sql, job, EventKind.STOPPED, stopped_message(job))
        return job


async def _log(conn: Connection, sql: Statements, job: Job, kind: str, message: str | None) -> None:
    await sql.all(
        conn,
        "insert_event",
        job_id=job.id,
        attempt=job.attempt,
        kind=kind,
        worker=job.worker,
        message=message,
    )


async def fail(
    conn: Connection,
    sql: Statements,
    lease: Lease,
    *,
    error: str,
    traceback: str | None,
    retryable: bool,
) -> Job:
    """Record a failed attempt of the leased job: lock it, then apply what the lifecycle
    rules decide (retry later or fail for good)."""
    async with conn.transaction():
        row = await sql.row(conn, "get_job_for_update", id=lease.job_id, token=lease.token)
        if row is None:
            raise stale_lease(lease, await sql.row(conn, "get_job", id=lease.job_id))
        job = row_to_job(row)
        decision = after_failure(job, error=error, traceback=traceback, retryable=retryable)
        return await apply_decision(conn, sql, job, decision)


async def reap(conn: Connection, sql: Statements) -> list[Job]:
    """Treat every expired lease no other server is reaping as a lost attempt."""
    changed = []
    async with conn.transaction():
        rows = await sql.all(conn, "expired_leases")
        now: datetime | None = await sql.value(conn, "now") if rows else None
        for row in rows:
            job = row_to_job(row)
            await _log(conn, sql, job, EventKind.REAPED, reaped_message(job))
            if job.state is not JobState.RUNNING:
                # A job cancelled while it ran: its code is presumed gone with its worker.
                params = {"id": job.id, "token": job.lease_token}
                ended = await sql.row(conn, "end_stopped_lease", **params)
                if ended is not None:  # we hold the row lock: it is always found
                    changed.append(row_to_job(ended))
                continue
            if now is not None and held_ahead(job, now):  # a device left before it was due
                released = await sql.row(conn, "release", id=job.id, token=job.lease_token)
                if released is not None:  # we hold the row lock: it is always found
                    changed.append(row_to_job(released))
                continue
            changed.append(await apply_decision(conn, sql, job, after_lost_lease(job)))
    return changed


async def apply_decision(conn: Connection, sql: Statements, job: Job, decision: Decision) -> Job:
    """Apply the lifecycle's decision about the running `job` as one statement fenced by
    its lease token, with its event; StaleLease if the lease is no longer current."""
    params = {
        "id": job.id,
        "token": job.lease_token,
        "error": decision.error,
        "traceback": decision.traceback,
        "kind": str(decision.kind),
        "message": decision.message,
    }
    if isinstance(decision, RetryLater):
        row = await sql.row(conn, "retry_later", delay_s=decision.delay_s, **params)
    else:
        row = await sql.row(conn, "fail_final", **params)
    if row is None:
        raise stale_lease(Lease(job_id=job.id, token=job.lease_token or ""), None)
    return row_to_job(row)


async def events(
    conn: Connection, sql: Statements, job_id: JobId, after_id: int, limit: int
) -> list[Event]:
    """Return the job's events after after_id; JobNotFound for an unknown job."""
    if await sql.row(conn, "job_exists", id=job_id) is None:
        raise JobNotFound(f"no job has the id {job_id}")
    rows = await sql.all(conn, "list_events", job_id=job_id, after_id=after_id, limit=limit)
    return [row_to_event(row) for row in rows]


async def purge(conn: Connection, sql: Statements, before: datetime) -> int:
    """Delete finished jobs and long-offline workers; return how many jobs went."""
    async with conn.transaction():
        deleted: int = await sql.value(conn, "purge_jobs", before=before)
        await sql.all(conn, "purge_workers", before=before)
        return deleted


async def get_job(conn: Connection, sql: Statements, job_id: JobId) -> Job:
    """Return the job, or raise JobNotFound."""
    row = await sql.row(conn, "get_job", id=job_id)
    if row is None:
        raise JobNotFound(f"no job has the id {job_id}")
    return row_to_job(row)
