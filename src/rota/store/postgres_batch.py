"""The PostgreSQL store's batch verbs: many claims, or many outcomes with their log lines, in
one transaction, with as few round trips as the fencing allows."""

from __future__ import annotations

import contextlib
import json
from collections.abc import Sequence
from typing import Any

from rota.errors import RotaError
from rota.jobs import Job, Lease
from rota.lifecycle import after_failure
from rota.store.base import AcquireRequest, Failure, Outcome, Settled, Success, claimable
from rota.store.common import stale_lease
from rota.store.postgres_conn import Connection
from rota.store.postgres_ops import apply_decision
from rota.store.postgres_rows import row_to_job
from rota.store.postgres_sql import Statements


def acquire_params(request: AcquireRequest) -> dict[str, Any]:
    """Return the acquire query's parameters for one request."""
    open_, targets = claimable(request)
    return {
        "worker": request.worker,
        "queues": list(dict.fromkeys(request.queues)),
        "open": open_,
        "tags": targets,
        "tasks": None if request.tasks is None else list(request.tasks),
        "limit": request.limit,
        "lease_s": float(request.lease_s),
        "horizon_s": float(request.horizon_s),
        "lead_s": float(request.lead_s),
    }


async def acquire_many(
    conn: Connection, sql: Statements, requests: Sequence[AcquireRequest]
) -> list[list[Job]]:
    """Serve each request as acquire would, one after the other, in one statement whatever
    the number of requests (see the acquire_many query): each gets its jobs in dispatch
    order."""
    wanted: list[dict[str, Any]] = []
    earlier: dict[str, int] = {}
    """Per queue: how many jobs the requests served so far may take from it."""
    for position, request in enumerate(requests):
        if request.limit <= 0 or not request.queues:
            continue
        queues = list(dict.fromkeys(request.queues))
        # The requests before it may take this many of its candidates: only those sharing a
        # queue with it (a device's large request on `reminders` costs the others nothing).
        depth = request.limit + max(earlier.get(queue, 0) for queue in queues)
        for queue in queues:
            earlier[queue] = earlier.get(queue, 0) + request.limit
        open_, targets = claimable(request)
        wanted.append(
            {
                "step": len(wanted) + 1,
                "position": position,
                "worker": request.worker,
                "queues": queues,
                "open": open_,
                "tags": targets,
                "tasks": None if request.tasks is None else list(request.tasks),
                "wanted": request.limit,
                "depth": depth,
                "lease_s": float(request.lease_s),
                "horizon_s": float(request.horizon_s),
                "lead_s": float(request.lead_s),
            }
        )
    claimed: list[list[Job]] = [[] for _ in requests]
    if not wanted:
        return claimed
    rows = await sql.all(conn, "acquire_many", requests=json.dumps(wanted))
    rows.sort(key=lambda row: (row["claimed_for"], -row["priority"], row["run_at"], row["seq"]))
    for row in rows:
        claimed[row["claimed_for"]].append(row_to_job(row))
    return claimed


async def settle(
    conn: Connection,
    sql: Statements,
    outcomes: Sequence[Outcome],
    prepared: Sequence[str | RotaError | None],
    lines: dict[str, list[Any]] | None,
) -> list[Settled]:
    """Apply every success in one statement, lock the failures' jobs in one, apply each
    failure as the lifecycle decides, and append the lines: all in one transaction. Successes
    alone are one statement, which needs no transaction around it (a round trip for BEGIN
    and one for COMMIT saved)."""
    answers: list[Settled | None] = [
        item if isinstance(item, RotaError) else None for item in prepared
    ]
    successes = [
        (index, outcome, item)
        for index, (outcome, item) in enumerate(zip(outcomes, prepared, strict=True))
        if isinstance(outcome, Success) and isinstance(item, str)
    ]
    failures = [
        (index, outcome)
        for index, (outcome, item) in enumerate(zip(outcomes, prepared, strict=True))
        if isinstance(outcome, Failure) and not isinstance(item, RotaError)
    ]
    one_statement = not failures and lines is None
    async with contextlib.nullcontext() if one_statement else conn.transaction():
        if successes:
            rows = await sql.all(
                conn,
                "complete_many",
                ids=[outcome.lease.job_id for _, outcome, _ in successes],
                tokens=[outcome.lease.token for _, outcome, _ in successes],
                results=[result for _, _, result in successes],
            )
            for row in rows:
                answers[successes[row["position"] - 1][0]] = row_to_job(row)
        if failures:
            locked = await sql.all(
                conn,
                "lock_leased_jobs",
                ids=[outcome.lease.job_id for _, outcome in failures],
                tokens=[outcome.lease.token for _, outcome in failures],
            )
            current = {row["id"]: row_to_job(row) for row in locked}
            for index, outcome in failures:
                job = current.get(outcome.lease.job_id)
                if job is None or job.lease_token != outcome.lease.token:
                    continue
                decision = after_failure(
                    job,
                    error=outcome.error,
                    traceback=outcome.traceback,
                    retryable=outcome.retryable,
                )
                answers[index] = await apply_decision(conn, sql, job, decision)
        refused = [index for index, answer in enumerate(answers) if answer is None]
        if refused:
            ids = [outcomes[index].lease.job_id for index in refused]
            found = {row["id"]: row_to_job(row) for row in await sql.all(conn, "get_jobs", ids=ids)}
            for index in refused:
                lease: Lease = outcomes[index].lease
                answers[index] = stale_lease(lease, found.get(lease.job_id))
        if lines is not None:
            await sql.all(conn, "insert_log_events", **lines)
    return [answer for answer in answers if answer is not None]
