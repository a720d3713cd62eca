"""The SQLite store's batch verbs: many claims, or many outcomes with their log lines, in one
operation of the writer, so they share one transaction and one fsync."""

from __future__ import annotations

import json
import sqlite3
from collections.abc import Hashable, Sequence
from datetime import datetime

from rota.errors import RotaError
from rota.jobs import Event, Job
from rota.lifecycle import EventKind
from rota.store import sqlite_ops as ops
from rota.store.base import AcquireRequest, Outcome, Settled, Success, claim_key
from rota.store.common import to_us
from rota.store.sqlite_rows import event_params, row_to_job

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
    complete's fenced update matches no row, and fail reads the lease before it writes.
    The successes of jobs named once in the batch complete in one statement, their events
    in one executemany."""
    answers: list[Settled | None] = [None] * len(outcomes)
    together = _complete_together(conn, q, outcomes, encoded, now)
    for index, (outcome, result) in enumerate(zip(outcomes, encoded, strict=True)):
        if isinstance(result, RotaError):
            answers[index] = result
            continue
        if index in together:
            answers[index] = together[index]
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
            answers[index] = exc
        else:
            answers[index] = job
    if lines:
        ops.log(conn, q, lines)
    settled = [answer for answer in answers if answer is not None]
    if len(settled) != len(outcomes):  # every place is filled above: a bug of ours
        raise RuntimeError("an outcome of the batch was left unanswered")
    return settled


def _complete_together(
    conn: sqlite3.Connection,
    q: Queries,
    outcomes: Sequence[Outcome],
    encoded: Sequence[str | RotaError | None],
    now: datetime,
) -> dict[int, Settled]:
    """Complete the successes of jobs no other outcome of the batch names, each fenced by
    its lease, in one UPDATE; return the answer of each by its place in the batch."""
    named: dict[str, int] = {}
    for outcome, result in zip(outcomes, encoded, strict=True):
        if not isinstance(result, RotaError):
            named[outcome.lease.job_id] = named.get(outcome.lease.job_id, 0) + 1
    places = [
        index
        for index, (outcome, result) in enumerate(zip(outcomes, encoded, strict=True))
        if isinstance(outcome, Success)
        and not isinstance(result, RotaError)
        and named[outcome.lease.job_id] == 1
    ]
    if not places:
        return {}
    done = [
        {
            "id": outcomes[index].lease.job_id,
            "token": outcomes[index].lease.token,
            "result": encoded[index] or "null",
        }
        for index in places
    ]
    now_us = to_us(now)
    rows = conn.execute(q["complete_many"], {"done": json.dumps(done), "now": now_us}).fetchall()
    completed = {job.id: job for job in map(row_to_job, rows)}
    answers: dict[int, Settled] = {}
    events = []
    for index in places:
        lease = outcomes[index].lease
        job = completed.get(lease.job_id)
        if job is None:
            try:
                ops.leased(conn, q, lease)  # raises StaleLease with the reason
            except RotaError as exc:
                answers[index] = exc
            continue
        answers[index] = job
        events.append(event_params(job, EventKind.SUCCEEDED, now_us))
    conn.executemany(q["insert_event"], events)
    return answers
