"""The SQLite store's batch verbs: many claims, or many outcomes with their log lines, in one
operation of the writer, so they share one transaction and one fsync."""

from __future__ import annotations

import sqlite3
from collections.abc import Hashable, Sequence
from datetime import datetime

from rota.errors import RotaError
from rota.jobs import Event, Job
from rota.store import sqlite_ops as ops
from rota.store.base import AcquireRequest, Outcome, Settled, Success, claim_key

Queries = ops.Queries


def acquire_many(
    conn: sqlite3.Connection, q: Queries, requests: Sequence[AcquireRequest], now: datetime
) -> list[list[Job]]:
    """Serve each request as acquire would, one after the other. A request that came back
    short leaves nothing for a later one of the same worker and filters in this transaction
    (claims only take jobs away): that one gets nothing without a query (a round's plan may
    hold hundreds of one-slot requests per worker)."""
    served: list[list[Job]] = []
    short: set[Hashable] = set()
    for request in requests:
        key = claim_key(request)
        if key in short:
            served.append([])
            continue
        jobs = ops.acquire(conn, q, request, now)
        if len(jobs) < request.limit:
            short.add(key)
        served.append(jobs)
    return served


def settle(
    conn: sqlite3.Connection,
    q: Queries,
    outcomes: Sequence[Outcome],
    encoded: Sequence[str | RotaError | None],
    lines: Sequence[Event],
    now: datetime,
) -> list[Settled]:
    """Apply each outcome, then append the lines. A refused outcome has changed nothing:
    complete's fenced update matches no row, and fail reads the lease before it writes."""
    answers: list[Settled] = []
    for outcome, result in zip(outcomes, encoded, strict=True):
        if isinstance(result, RotaError):
            answers.append(result)
            continue
        try:
            if isinstance(outcome, Success):
                job = ops.complete_encoded(conn, q, outcome.lease, result or "null", now)
            else:
                job = ops.fail(
                    conn,
                    q,
                    outcome.lease,
                    now,
                    error=outcome.error,
                    traceback=outcome.traceback,
                    retryable=outcome.retryable,
                )
        except RotaError as exc:
            answers.append(exc)
        else:
            answers.append(job)
    if lines:
        ops.log(conn, q, lines)
    return answers
