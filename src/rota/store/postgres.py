"""The PostgreSQL store: several stateless servers over one database.

Every verb is one statement or one short transaction, with the lease token checked in the
WHERE clause (fencing). Claims, reaping and deadline expiry lock rows with SKIP LOCKED, so
servers racing over the same jobs each take different rows and never wait on each other.
The store's clock is the database's: see sql/postgres/queries.sql for how a test clock
replaces it.
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from rota.auth.tokens import TokenRecord
from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidInput, StoreClosed, TokenNotFound
from rota.jobs import Event, Job, JobSpec, JobState, Lease
from rota.lifecycle import EDIT_MARGIN_S, EXPIRED_MESSAGE, progress_message, updated_message
from rota.safe_text import excerpt
from rota.store import postgres_batch as batch
from rota.store import postgres_ops as ops
from rota.store.base import (
    AcquireRequest,
    Durability,
    JobChanges,
    JobPage,
    JobQuery,
    Outcome,
    QueueStats,
    Settled,
    Store,
    WorkerInfo,
)
from rota.store.coalesce import Coalescer
from rota.store.common import (
    JobIds,
    dump_json,
    page_params,
    prepare_outcomes,
    retry_params,
    to_page,
)
from rota.store.feed import ChangeFeed, WorkersChanged, emits_changes
from rota.store.names import NameClaim, NameHeld
from rota.store.postgres_conn import Connection, ConnectionRunner
from rota.store.postgres_explore import PostgresExplorer
from rota.store.postgres_feed import FeedRelay
from rota.store.postgres_insights import PostgresInsights
from rota.store.postgres_listen import Listener
from rota.store.postgres_rows import aware, log_columns, row_to_job, row_to_worker, submit_columns
from rota.store.postgres_schedules import PostgresScheduleVerbs
from rota.store.postgres_sql import Statements, load_compiled
from rota.store.postgres_workers import WorkersCache
from rota.store.queries import load_migrations
from rota.store.token_rows import row_to_token, token_columns
from rota.types import JSON, JobId

T = TypeVar("T")

_SQL_PACKAGE = "rota.store.sql.postgres"
_SCHEMA_NAME = re.compile(r"^[a-z_][a-z0-9_]{0,49}$")


class PostgresStore(PostgresInsights, PostgresExplorer, PostgresScheduleVerbs):
    """A Store in one schema of a PostgreSQL database, shared by any number of servers.

    `clock` is for tests only: None (the default) makes the database's clock the store's
    clock; a Clock makes every statement use that clock's moment as "now" instead.
    """

    def __init__(
        self,
        dsn: str,
        *,
        schema: str = "rota",
        pool_min: int = 1,
        pool_max: int = 10,
        clock: Clock | None = None,
        connect_timeout_s: float = 5.0,
        command_timeout_s: float = 30.0,
        durability: Durability = "full",
    ) -> None:
        if not _SCHEMA_NAME.fullmatch(schema):
            raise InvalidInput(
                f"schema {schema!r} is not a plain lowercase name of at most 50 characters"
            )
        if not 0 < pool_min <= pool_max:
            raise InvalidInput("the pool sizes must satisfy 0 < pool_min <= pool_max")
        self.schema = schema
        self.channel = f"rota_jobs_{schema}"
        """The NOTIFY channel: one per schema, so stores on other schemas are not woken."""
        self._clock = clock
        self._runner = ConnectionRunner(
            dsn,
            schema=schema,
            pool_min=pool_min,
            pool_max=pool_max,
            connect_timeout_s=connect_timeout_s,
            command_timeout_s=command_timeout_s,
            # "relaxed": commits return before the WAL flush (synchronous_commit = off).
            synchronous_commit=durability == "full",
        )
        self._sql: Statements | None = None
        self._ids = JobIds()
        self._listener: Listener | None = None
        self.shared = True
        """Any number of servers use one schema at once (see Store.shared)."""
        self.feed = ChangeFeed()
        """The jobs changed through this store, and through every other store open on the
        same schema in any server (relayed over NOTIFY, a moment later)."""
        self._settle_group: Coalescer[Outcome, Settled] = Coalescer(self._settle_now)
        self._relay = FeedRelay(
            self.feed,
            lambda work: self._runner.run(work, retry=False),
            f"rota_changes_{schema}",
        )
        self._workers = WorkersCache(
            monotonic=SYSTEM_CLOCK.monotonic,
            listening=lambda: self._listener is not None and self._listener.listening,
        )
        """The workers list between reads (see postgres_workers.py for how stale it may be)."""
        self.feed.subscribe(self._workers)

    def __repr__(self) -> str:
        return f"PostgresStore({self._runner.where!r}, schema={self.schema!r})"

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Connect, apply missing migrations under an advisory lock, and start listening."""
        if self._listener is not None:
            return
        await self._runner.start()
        try:
            await self.migrate()
            sql = await self._statements()
            last_id = await self._run(lambda c: sql.value(c, "last_job_id"), read=True)
            self._ids = JobIds(last_id)
            listener = Listener(
                self._runner.connect,
                self.channel,
                monotonic=SYSTEM_CLOCK.monotonic,
                feed_channel=self._relay.channel,
                on_payload=self._relay.heard,
                on_gap=self._relay.missed,
            )
            await self._runner.guard(listener.start())
            await self._relay.start()
        except BaseException:
            await self._runner.stop()
            raise
        self._listener = listener

    async def close(self) -> None:
        """Stop listening and close every connection."""
        listener, self._listener = self._listener, None
        await self._relay.stop()
        if listener is not None:
            await listener.stop()
        await self._runner.stop()

    async def migrate(self) -> int:
        """Bring the schema up to date and return how many migrations that applied.

        It all runs in one transaction holding an advisory lock on the schema's name, so
        servers starting together apply each migration exactly once, and a migration that
        fails leaves the schema as it was. Works on a store that is not open, too.
        """
        sql = await self._statements()
        migrations = await asyncio.to_thread(load_migrations, _SQL_PACKAGE, "migrations")
        was_started = self._runner.started
        await self._runner.start()
        try:
            return await self._runner.run(
                lambda c: ops.migrate(c, sql, self.schema, migrations), retry=False
            )
        finally:
            if not was_started:
                await self._runner.stop()

    async def now(self) -> datetime:
        """Return the store's clock: the database's (or the test clock, when given)."""
        if self._clock is not None:
            return self._clock.now_utc()
        moment: datetime = await self._run(lambda c: self._q.value(c, "now"), read=True)
        return moment

    async def wait_for_work(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for a sign that work may be due; return True if one came.

        Submit, release, retry, update, and a failed or reaped attempt going back to
        pending send a NOTIFY on this schema's channel; every store open on the schema, in
        any server, hears it on a connection of its own. A sign sent while nobody waited
        wakes the next call at once. After the listening connection was lost and made
        again, the call returns True: signs sent meanwhile are lost, so the caller should
        look for work anyway. False means only that the time ran out.
        """
        if self._listener is None:
            raise StoreClosed(f"{self!r} is not open")
        return await self._listener.wait(timeout_s)

    # --- clients -----------------------------------------------------------------------

    @emits_changes
    async def submit(self, specs: Sequence[JobSpec]) -> list[Job]:
        """Insert jobs as pending, all or none, and return them in order."""
        if not specs:
            return []
        id_time = (self._clock or SYSTEM_CLOCK).now_utc()  # stamps ids only, never a lease
        columns, planned = submit_columns(specs, self._ids, id_time)
        return await self._run(lambda c: ops.submit(c, self._q, columns, specs, planned))

    async def get_job(self, job_id: JobId) -> Job:
        """Return the job, or raise JobNotFound."""
        return await self._run(lambda c: ops.get_job(c, self._q, job_id), read=True)

    async def list_jobs(self, query: JobQuery) -> JobPage:
        """Return one page of jobs matching the query, in its order."""
        if not query.plain:
            return await self.filter_jobs(query)
        params = page_params(query)
        # Drive the query by the most selective filter that has an index of its own.
        name = "list_jobs"
        for field in ("worker", "queue", "state"):
            if params[field] is not None:
                name = f"list_jobs_by_{field}"
                break
        rows = await self._run(lambda c: self._q.all(c, name, **params), read=True)
        return to_page([row_to_job(row) for row in rows], query.limit)

    @emits_changes
    async def update(self, job_id: JobId, changes: JobChanges) -> Job:
        """Change run_at, priority or args of a pending job (InvalidTransition otherwise)."""
        if changes.priority is not None and (
            isinstance(changes.priority, bool) or not isinstance(changes.priority, int)
        ):
            raise InvalidInput("priority must be an integer")
        if changes.args is not None and not isinstance(changes.args, list):
            raise InvalidInput("args must be a list")
        if changes.kwargs is not None and not isinstance(changes.kwargs, dict):
            raise InvalidInput("kwargs must be a mapping")
        params = {
            "run_at": aware(changes.run_at),
            "priority": changes.priority,
            "args": None if changes.args is None else dump_json(changes.args, "args"),
            "kwargs": None if changes.kwargs is None else dump_json(changes.kwargs, "kwargs"),
        }
        fields = [name for name, value in params.items() if value is not None]
        message = updated_message(fields)
        return await self._run(
            lambda c: ops.change(
                c,
                self._q,
                "update_job",
                job_id,
                message=message,
                edit_margin_s=EDIT_MARGIN_S,
                **params,
            )
        )

    @emits_changes
    async def cancel(self, job_id: JobId) -> Job:
        """Cancel a pending or running job; a running job stays stopping until its worker
        releases the lease (its code stopped) or the lease expires."""
        return await self._run(lambda c: ops.cancel(c, self._q, job_id))

    @emits_changes
    async def retry(
        self,
        job_id: JobId,
        *,
        args: list[JSON] | None = None,
        kwargs: dict[str, JSON] | None = None,
    ) -> Job:
        """Put a failed, cancelled or expired job back to pending, due now, for a new round,
        with new args or kwargs when given; JobStopping while its last attempt's code is
        still stopping."""
        params, message = retry_params(args, kwargs)
        return await self._run(
            lambda c: ops.change(c, self._q, "retry", job_id, message=message, **params)
        )

    async def events(self, job_id: JobId, *, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Return the job's execution log in order (JobNotFound for an unknown id)."""
        return await self._run(lambda c: ops.events(c, self._q, job_id, after_id, limit), read=True)

    async def queue_stats(self) -> list[QueueStats]:
        """Return depth, running count and oldest due age for every queue with live jobs."""
        rows = await self._run(lambda c: self._q.all(c, "queue_stats"), read=True)
        return [
            QueueStats(
                queue=row["queue"],
                pending=row["pending"],
                due=row["due"],
                running=row["running"],
                oldest_due_age_s=(
                    None if row["oldest_due_age_s"] is None else max(0.0, row["oldest_due_age_s"])
                ),
            )
            for row in rows
        ]

    async def known_tasks(self) -> set[str]:
        """Return every task name a registered worker (online or not) has announced."""
        rows = await self._run(lambda c: self._q.all(c, "known_tasks"), read=True)
        return {row["name"] for row in rows}

    # --- dispatch and leases -------------------------------------------------------------

    @emits_changes
    async def acquire(self, request: AcquireRequest) -> list[Job]:
        """Claim up to `limit` due pending jobs the worker may run, and return them running."""
        if request.lease_s <= 0:
            raise InvalidInput("lease_s must be positive")
        if request.limit <= 0 or not request.queues:
            return []
        params = batch.acquire_params(request)
        rows = await self._run(lambda c: self._q.all(c, "acquire", **params))
        return [row_to_job(row) for row in rows]

    @emits_changes
    async def acquire_many(self, requests: Sequence[AcquireRequest]) -> list[list[Job]]:
        """Claim jobs for several workers' free slots in one transaction, request by request."""
        if any(request.lease_s <= 0 for request in requests):
            raise InvalidInput("lease_s must be positive")
        if not requests:
            return []
        return await self._run(lambda c: batch.acquire_many(c, self._q, list(requests)))

    async def extend(
        self, worker: str, tokens: Sequence[str], lease_s: float
    ) -> dict[str, JobState]:
        """Extend the worker's leases to now + lease_s; return the state of each valid one's
        job by token (running, or cancelled: stop its code)."""
        if not tokens:
            return {}
        params = {"worker": worker, "tokens": list(tokens), "lease_s": float(lease_s)}
        rows = await self._run(lambda c: self._q.all(c, "extend", **params))
        return {row["lease_token"]: JobState(row["state"]) for row in rows}

    async def expire_leases_of(self, worker: str, grace_s: float) -> int:
        """Bring every lease the worker holds to expire within grace_s."""
        params = {"worker": worker, "grace_s": float(grace_s)}
        touched: int = await self._run(lambda c: self._q.value(c, "expire_leases_of", **params))
        return touched

    @emits_changes
    async def complete(self, lease: Lease, result: JSON) -> Job:
        """Mark the job succeeded with its result. StaleLease unless the token is current."""
        encoded = dump_json(result, "the result")
        return await self._run(lambda c: ops.leased(c, self._q, "complete", lease, result=encoded))

    @emits_changes
    async def fail(
        self, lease: Lease, *, error: str, traceback: str | None = None, retryable: bool = True
    ) -> Job:
        """Record a failed attempt: retried with backoff while attempts are left, else failed."""
        return await self._run(
            lambda c: ops.fail(
                c, self._q, lease, error=error, traceback=traceback, retryable=retryable
            )
        )

    @emits_changes
    async def settle(
        self, outcomes: Sequence[Outcome], *, lines: Sequence[Event] = ()
    ) -> list[Settled]:
        """Record many outcomes, each fenced by its own lease, and append log lines, in one
        transaction; a refused outcome leaves its error in its place."""
        if not outcomes and not lines:
            return []
        if lines:
            prepared = prepare_outcomes(outcomes)
            columns = log_columns(lines)
            return await self._run(
                lambda c: batch.settle(c, self._q, list(outcomes), prepared, columns)
            )
        # Outcomes alone, as workers report them: those that arrive while a transaction is
        # under way are settled together in the next one (one round trip for many).
        return await self._settle_group(outcomes)

    async def _settle_now(self, outcomes: list[Outcome]) -> list[Settled]:
        prepared = prepare_outcomes(outcomes)
        return await self._run(lambda c: batch.settle(c, self._q, outcomes, prepared, None))

    @emits_changes
    async def release(self, lease: Lease) -> Job:
        """Give a running job back unrun (pending, due now, the attempt not counted), or end
        the lease of a job cancelled while it ran, whose code has stopped."""
        return await self._run(lambda c: ops.release(c, self._q, lease))

    @emits_changes
    async def report_stopping(self, lease: Lease, message: str) -> Job:
        """Mark the attempt stopping (its code was asked to stop) and log why."""
        return await self._run(
            lambda c: ops.leased(c, self._q, "report_stopping", lease, message=message)
        )

    async def report_progress(
        self, lease: Lease, progress: float | None, message: str | None = None
    ) -> None:
        """Store the job's progress (0..1) and log the message. StaleLease unless current."""
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise InvalidInput("progress is a fraction between 0 and 1")
        words = progress_message(progress, message)
        await self._run(lambda c: ops.report_progress(c, self._q, lease, progress, words, message))

    async def log(self, events: Sequence[Event]) -> None:
        """Append lines a task logged to the execution log."""
        if events:
            columns = log_columns(events)
            await self._run(lambda c: self._q.all(c, "insert_log_events", **columns))

    @emits_changes
    async def reap(self) -> list[Job]:
        """Treat every expired lease as a failed attempt and return the jobs it changed."""
        return await self._run(lambda c: ops.reap(c, self._q))

    @emits_changes
    async def expire_overdue(self) -> list[Job]:
        """Move pending jobs whose deadline has passed to expired, and return them."""
        rows = await self._run(lambda c: self._q.all(c, "expire_overdue", message=EXPIRED_MESSAGE))
        return [row_to_job(row) for row in rows]

    async def next_run_at(self, ahead_s: float = 0.0) -> datetime | None:
        """Return the earliest run_at among pending jobs not yet due at now + ahead_s."""
        moment: datetime | None = await self._run(
            lambda c: self._q.value(c, "next_run_at", ahead_s=float(ahead_s)), read=True
        )
        return moment

    # --- workers -------------------------------------------------------------------------

    async def register_worker(
        self, info: WorkerInfo, claim: NameClaim | None = None
    ) -> NameHeld | None:
        """Insert or replace the worker's entry as online (its hello), unless a live
        connection elsewhere holds the name: in one statement (see the query)."""
        params = {
            "name": info.name,
            "queues": list(info.queues),
            "tags": list(info.tags),
            "tasks": list(info.tasks),
            "capacity": info.capacity,
            "running": info.running,
            "server": info.server,
            "connected_at": aware(info.connected_at),
            "resources": dump_json(info.resources, "resources"),
            "session_digest": info.session_digest,
            "live_s": None if claim is None else float(claim.live_s),
            "presented": None if claim is None else claim.presented,
        }
        rows = await self._changing_workers(lambda c: self._q.all(c, "register_worker", **params))
        if rows:
            return None
        # Refused: read the holder as committed now, for the refusal's message only.
        holder = await self._run(lambda c: self._q.row(c, "name_holder", name=info.name), read=True)
        if holder is None:
            return NameHeld(server=None, last_seen_at=None)
        return NameHeld(server=holder["server"], last_seen_at=holder["last_seen_at"])

    async def worker_seen(
        self,
        name: str,
        *,
        running: int,
        state: str,
        resources: dict[str, Any],
        session_digest: str | None = None,
    ) -> None:
        """Record a heartbeat: last_seen_at = now, running count, state and resources (with
        a session_digest, only while the entry holds that session)."""
        params = {
            "name": name,
            "running": running,
            "state": state,
            "resources": dump_json(resources, "resources"),
            "session_digest": session_digest,
        }
        await self._changing_workers(lambda c: self._q.all(c, "worker_seen", **params))

    # --- tokens --------------------------------------------------------------------------

    async def create_token(self, record: TokenRecord) -> None:
        """Keep a new token (its digest, never its secret)."""
        columns = token_columns(record)
        await self._run(lambda c: self._q.all(c, "create_token", **columns))

    async def create_first_token(self, record: TokenRecord) -> bool:
        """Keep the token only if the store never had one; tell whether it was kept. The
        table is locked against other writers for the check and the insert, so servers
        starting at once on a new store make one first token between them."""
        columns = token_columns(record)

        async def work(conn: Connection) -> bool:
            async with conn.transaction():
                await self._q.all(conn, "lock_tokens")
                return await self._q.row(conn, "create_first_token", **columns) is not None

        return await self._run(work)

    async def list_tokens(self) -> list[TokenRecord]:
        """Return every token ever made, revoked ones too, oldest first."""
        rows = await self._run(lambda c: self._q.all(c, "list_tokens"), read=True)
        return [_token(row) for row in rows]

    async def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke the token (again is a no-op) and return it; TokenNotFound if unknown."""
        row = await self._run(lambda c: self._q.row(c, "revoke_token", id=token_id))
        if row is None:
            raise TokenNotFound(f"no token has the id {excerpt(token_id)}")
        return _token(row)

    async def worker_gone(self, name: str, *, session_digest: str | None = None) -> bool:
        """Mark the worker offline (with a session_digest, only while the entry holds that
        session); tell whether it was changed."""
        params = {"name": name, "session_digest": session_digest}
        rows = await self._changing_workers(lambda c: self._q.all(c, "worker_gone", **params))
        return bool(rows)

    async def list_workers(self) -> list[WorkerInfo]:
        """Return every registered worker, online first, then by name.

        The list is kept between calls until a worker's entry changes, on any server: it
        is stale by at most one change notice's delivery (milliseconds), never by more than
        a second (see postgres_workers.py).
        """
        return await self._workers.read(self._read_workers)

    async def _read_workers(self) -> list[WorkerInfo]:
        rows = await self._run(lambda c: self._q.all(c, "list_workers"), read=True)
        return [row_to_worker(row) for row in rows]

    async def _changing_workers(self, work: Callable[[Connection], Awaitable[T]]) -> T:
        """Write to the workers table; then tell this server's and the others' caches."""
        try:
            return await self._workers.changing(self._run(work))
        finally:
            self.feed.publish([WorkersChanged()])

    # --- retention -----------------------------------------------------------------------

    async def purge(self, finished_before: datetime) -> int:
        """Delete jobs (and their events) finished before the given time, and offline
        workers not seen since then; return how many jobs were deleted."""
        before = aware(finished_before)
        return await self._changing_workers(lambda c: ops.purge(c, self._q, before))

    # --- plumbing ------------------------------------------------------------------------

    @property
    def _q(self) -> Statements:
        if self._sql is None:
            raise StoreClosed(f"{self!r} is not open")
        return self._sql

    async def _statements(self) -> Statements:
        if self._sql is None:
            queries = await asyncio.to_thread(load_compiled, _SQL_PACKAGE, "queries.sql")
            self._sql = Statements(queries, clock=self._clock, channel=self.channel)
        return self._sql

    async def _run(self, work: Callable[[Connection], Awaitable[T]], *, read: bool = False) -> T:
        if not self._runner.started:
            raise StoreClosed(f"{self!r} is not open")
        return await self._runner.run(work, retry=read)


def _token(row: Any) -> TokenRecord:
    return row_to_token(
        row, created_at=aware(row["created_at"]), revoked_at=aware(row["revoked_at"])
    )


_check: type[Store] = PostgresStore
