"""The embedded store: one SQLite file in WAL mode, one writer with group commit.

With durability "full" (the default) every commit waits for the log's fsync; "relaxed"
commits without it (see rota.store.base.Durability).

Writes go to the writer thread (see sqlite_writer), which commits many callers' operations
in one durable transaction; reads run on a pool of read connections in worker threads.
The store's "now" is the injected clock.
"""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Awaitable, Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Concatenate, Final, ParamSpec, TypeVar

from rota.auth.tokens import TokenRecord
from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidInput, JobNotFound, ServerUnavailable, StoreClosed, TokenNotFound
from rota.ids import new_lease_token
from rota.jobs import Event, Job, JobSpec, JobState, Lease
from rota.safe_text import excerpt
from rota.store import sqlite_batch as batch
from rota.store import sqlite_ops as ops
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
from rota.store.common import (
    JobIds,
    dump_json,
    from_us,
    maybe_from_us,
    page_params,
    prepare_outcomes,
    retry_params,
    to_page,
    to_us,
)
from rota.store.feed import ChangeFeed, emits_changes
from rota.store.names import NameClaim, NameHeld
from rota.store.queries import Migration, load_migrations, load_queries
from rota.store.sqlite_explore import SqliteExplorer
from rota.store.sqlite_insights import SqliteInsights
from rota.store.sqlite_rows import row_to_event, row_to_job, row_to_worker
from rota.store.sqlite_schedules import SqliteScheduleVerbs
from rota.store.sqlite_writer import SqliteReaders, SqliteWriter
from rota.store.token_rows import row_to_token, token_columns
from rota.types import JSON, JobId

P = ParamSpec("P")
T = TypeVar("T")

_SQL_PACKAGE = "rota.store.sql.sqlite"
_BUSY_TIMEOUT_MS = 10_000
_BUSY_CODES: Final = (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED)
"""What SQLite answers while another connection holds the lock a statement needs."""
_READERS = 4
_READER_CACHE_KIB = 512
"""The most each read connection's page cache holds, in KiB (SQLite's default, 2,000 KiB,
fills as reads touch more of a growing file: up to 8 MiB of the server's memory for 4
readers). Reads look up a few rows by index, or scan more pages than either size holds; a
page missed here is read from the system's file cache. The writer keeps the default: claims
and completions touch the same pages over and over."""
_MAX_BATCH = 512


class SqliteStore(SqliteInsights, SqliteExplorer, SqliteScheduleVerbs):
    """A Store in one SQLite file."""

    def __init__(
        self, path: str | Path, *, clock: Clock = SYSTEM_CLOCK, durability: Durability = "full"
    ) -> None:
        self.path = Path(path)
        self._clock = clock
        # WAL mode: FULL syncs the log at every commit; NORMAL only at checkpoints, so a
        # commit is safe from a crash of this process but not from a power loss.
        self._synchronous = "FULL" if durability == "full" else "NORMAL"
        self._queries: Mapping[str, str] = {}
        self._ids = JobIds()
        self._writer = SqliteWriter(self._connect_writer, max_batch=_MAX_BATCH)
        self._readers = SqliteReaders(self._connect_reader, size=_READERS)
        self._open = False
        # The workers as last read, and a count of the writes to them: one server owns the
        # file and every write to its workers passes through the verbs below, so the list
        # is read again only after one of them (a submission's warning needs it each time).
        self._workers: list[WorkerInfo] | None = None
        self._workers_writes = 0
        self.shared = False
        """One server owns an SQLite file (see Store.shared)."""
        self.feed = ChangeFeed()
        """The jobs this store changed (one server owns an SQLite file: in-process only)."""

    def __repr__(self) -> str:
        return f"SqliteStore({str(self.path)!r})"

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Create the file if needed, apply missing migrations, start writer and readers."""
        if self._open:
            return
        last_id, _ = await self._apply_migrations()
        self._ids = JobIds(last_id)
        await self._writer.start()
        try:
            await self._readers.start()
        except BaseException:
            await self._writer.stop()
            raise
        self._open = True

    async def migrate(self) -> int:
        """Bring the file's schema up to date and return how many migrations that applied."""
        _, applied = await self._apply_migrations()
        return applied

    async def _apply_migrations(self) -> tuple[str | None, int]:
        self._queries = await asyncio.to_thread(load_queries, _SQL_PACKAGE, "queries.sql")
        migrations = await asyncio.to_thread(load_migrations, _SQL_PACKAGE, "migrations")
        return await asyncio.to_thread(self._migrate, migrations)

    async def close(self) -> None:
        """Commit every queued write, then close all connections."""
        self._open = False
        await self._writer.stop()
        await self._readers.stop()

    async def now(self) -> datetime:
        """Return the store's clock: the injected one."""
        return self._clock.now_utc()

    # --- clients -----------------------------------------------------------------------

    @emits_changes
    async def submit(self, specs: Sequence[JobSpec]) -> list[Job]:
        """Insert jobs as pending, all or none, and return them in order."""
        if not specs:
            return []
        return await self._write(ops.submit, self._ids, list(specs), self._clock.now_utc())

    async def get_job(self, job_id: JobId) -> Job:
        """Return the job, or raise JobNotFound."""
        row = await self._read_one("get_job", {"id": job_id})
        if row is None:
            raise JobNotFound(f"no job has the id {job_id}")
        return row_to_job(row)

    async def list_jobs(self, query: JobQuery) -> JobPage:
        """Return one page of jobs matching the query, in its order."""
        if not query.plain:
            return await self.filter_jobs(query)
        params = page_params(query)
        # Drive the query by the filter likely to be most selective that has an index.
        if query.worker is not None:
            name = "list_jobs_by_worker"
        elif query.state is JobState.RUNNING:  # running jobs are few: at most the slots
            name = "list_jobs_by_state"
        elif query.queue is not None:
            name = "list_jobs_by_queue"
        elif query.state is not None:
            name = "list_jobs_by_state"
        else:
            name = "list_jobs"
        rows = await self._read_all(name, params)
        return to_page([row_to_job(row) for row in rows], query.limit)

    @emits_changes
    async def update(self, job_id: JobId, changes: JobChanges) -> Job:
        """Change run_at, priority or args of a pending job (InvalidTransition otherwise)."""
        return await self._write(ops.update, job_id, changes, self._clock.now_utc())

    @emits_changes
    async def cancel(self, job_id: JobId) -> Job:
        """Cancel a pending or running job; a running job stays stopping until its worker
        releases the lease (its code stopped) or the lease expires."""
        return await self._write(ops.cancel, job_id, self._clock.now_utc())

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
        now = self._clock.now_utc()
        return await self._write(ops.change, "retry", job_id, now, params, message)

    async def events(self, job_id: JobId, *, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Return the job's execution log in order (JobNotFound for an unknown id)."""
        queries = self._queries

        def read(conn: sqlite3.Connection) -> list[Event]:
            if conn.execute(queries["job_exists"], {"id": job_id}).fetchone() is None:
                raise JobNotFound(f"no job has the id {job_id}")
            params = {"job_id": job_id, "after_id": after_id, "limit": limit}
            return [row_to_event(row) for row in conn.execute(queries["list_events"], params)]

        return await self._readers.run(read)

    async def queue_stats(self) -> list[QueueStats]:
        """Return depth, running count and oldest due age for every queue with live jobs."""
        now = self._clock.now_utc()
        queries = self._queries

        def read(conn: sqlite3.Connection) -> list[QueueStats]:
            params = {"now": to_us(now)}
            conn.execute("BEGIN")  # one snapshot for both figures
            pending = {
                row["queue"]: row for row in conn.execute(queries["queue_stats_pending"], params)
            }
            running = {
                row["queue"]: row["running"] for row in conn.execute(queries["queue_stats_running"])
            }
            conn.execute("COMMIT")
            stats = []
            for queue in sorted(pending.keys() | running.keys()):
                row = pending.get(queue)
                oldest = None if row is None else row["oldest_due_at"]
                stats.append(
                    QueueStats(
                        queue=queue,
                        pending=0 if row is None else row["pending"],
                        due=0 if row is None else row["due"],
                        running=running.get(queue, 0),
                        oldest_due_age_s=(
                            None
                            if oldest is None
                            else max(0.0, (now - from_us(oldest)).total_seconds())
                        ),
                    )
                )
            return stats

        self._check_open()
        return await self._readers.run(read)

    async def known_tasks(self) -> set[str]:
        """Return every task name a registered worker (online or not) has announced."""
        return {row["name"] for row in await self._read_all("known_tasks", {})}

    # --- dispatch and leases -------------------------------------------------------------

    @emits_changes
    async def acquire(self, request: AcquireRequest) -> list[Job]:
        """Claim up to `limit` due pending jobs the worker may run, and return them running."""
        return await self._write(ops.acquire, request, self._clock.now_utc())

    @emits_changes
    async def acquire_many(self, requests: Sequence[AcquireRequest]) -> list[list[Job]]:
        """Claim jobs for several workers' free slots in one transaction, request by request."""
        if any(request.lease_s <= 0 for request in requests):
            raise InvalidInput("lease_s must be positive")
        if not requests:
            return []
        return await self._write(batch.acquire_many, list(requests), self._clock.now_utc())

    async def extend(
        self, worker: str, tokens: Sequence[str], lease_s: float
    ) -> dict[str, JobState]:
        """Extend the worker's leases to now + lease_s; return the state of each valid one's
        job by token (running, or cancelled: stop its code)."""
        if not tokens:
            return {}
        now = self._clock.now_utc()
        return await self._write(ops.extend, worker, list(tokens), lease_s, now)

    async def expire_leases_of(self, worker: str, grace_s: float) -> int:
        """Bring every lease the worker holds to expire within grace_s."""
        return await self._write(ops.expire_leases_of, worker, grace_s, self._clock.now_utc())

    @emits_changes
    async def complete(self, lease: Lease, result: JSON) -> Job:
        """Mark the job succeeded with its result. StaleLease unless the token is current."""
        return await self._write(ops.complete, lease, result, self._clock.now_utc())

    @emits_changes
    async def fail(
        self, lease: Lease, *, error: str, traceback: str | None = None, retryable: bool = True
    ) -> Job:
        """Record a failed attempt: retried with backoff while attempts are left, else failed."""
        now = self._clock.now_utc()
        return await self._write(
            ops.fail, lease, now, error=error, traceback=traceback, retryable=retryable
        )

    @emits_changes
    async def settle(
        self, outcomes: Sequence[Outcome], *, lines: Sequence[Event] = ()
    ) -> list[Settled]:
        """Record many outcomes, each fenced by its own lease, and append log lines, in one
        transaction; a refused outcome leaves its error in its place."""
        if not outcomes and not lines:
            return []
        encoded = prepare_outcomes(outcomes)
        now = self._clock.now_utc()
        return await self._write(batch.settle, list(outcomes), encoded, list(lines), now)

    @emits_changes
    async def release(self, lease: Lease) -> Job:
        """Give a running job back unrun (pending, due now, the attempt not counted), or end
        the lease of a job cancelled while it ran, whose code has stopped."""
        return await self._write(ops.release, lease, self._clock.now_utc())

    @emits_changes
    async def report_stopping(self, lease: Lease, message: str) -> Job:
        """Mark the attempt stopping (its code was asked to stop) and log why."""
        return await self._write(ops.report_stopping, lease, message, self._clock.now_utc())

    async def report_progress(
        self, lease: Lease, progress: float | None, message: str | None = None
    ) -> None:
        """Store the job's progress (0..1) and log the message. StaleLease unless current."""
        now = self._clock.now_utc()
        await self._write(ops.report_progress, lease, progress, message, now)

    async def log(self, events: Sequence[Event]) -> None:
        """Append lines a task logged to the execution log."""
        if events:
            await self._write(ops.log, list(events))

    @emits_changes
    async def reap(self) -> list[Job]:
        """Treat every expired lease as a failed attempt and return the jobs it changed."""
        return await self._write(ops.reap, self._clock.now_utc())

    @emits_changes
    async def expire_overdue(self) -> list[Job]:
        """Move pending jobs whose deadline has passed to expired, and return them."""
        return await self._write(ops.expire_overdue, self._clock.now_utc())

    async def next_run_at(self, ahead_s: float = 0.0) -> datetime | None:
        """Return the earliest run_at among pending jobs not yet due at now + ahead_s."""
        after = self._clock.now_utc() + timedelta(seconds=ahead_s)
        row = await self._read_one("next_run_at", {"now": to_us(after)})
        return None if row is None or row["run_at"] is None else from_us(row["run_at"])

    async def wait_for_work(self, timeout_s: float) -> bool:
        """Wait timeout_s and return False: one server owns an SQLite file, and it wakes its
        own dispatcher directly whenever it makes work due."""
        await asyncio.sleep(timeout_s)
        return False

    # --- tokens --------------------------------------------------------------------------

    async def create_token(self, record: TokenRecord) -> None:
        """Keep a new token (its digest, never its secret)."""
        params = token_columns(record) | {"now": to_us(record.created_at)}
        await self._execute("create_token", params)

    async def create_first_token(self, record: TokenRecord) -> bool:
        """Keep the token only if the store never had one (the one writer makes the check
        and the insert one step); tell whether it was kept."""
        self._check_open()
        sql = self._queries["create_first_token"]
        params = token_columns(record) | {"now": to_us(record.created_at)}
        return bool(await self._writer.run(lambda conn: conn.execute(sql, params).fetchall()))

    async def list_tokens(self) -> list[TokenRecord]:
        """Return every token ever made, revoked ones too, oldest first."""
        return [_token(row) for row in await self._read_all("list_tokens", {})]

    async def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke the token (again is a no-op) and return it; TokenNotFound if unknown."""
        now = to_us(self._clock.now_utc())
        await self._execute("revoke_token", {"id": token_id, "now": now})
        row = await self._read_one("get_token", {"id": token_id})
        if row is None:
            raise TokenNotFound(f"no token has the id {excerpt(token_id)}")
        return _token(row)

    # --- workers -------------------------------------------------------------------------

    async def register_worker(
        self, info: WorkerInfo, claim: NameClaim | None = None
    ) -> NameHeld | None:
        """Insert or replace the worker's entry as online (its hello), unless a live
        connection elsewhere holds the name: read and written in one transaction."""
        now = self._clock.now_utc()
        return await self._changing_workers(self._write(ops.register_worker, info, claim, now))

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
            "now": to_us(self._clock.now_utc()),
        }
        await self._changing_workers(self._execute("worker_seen", params))

    async def worker_gone(self, name: str, *, session_digest: str | None = None) -> bool:
        """Mark the worker offline (with a session_digest, only while the entry holds that
        session); tell whether it was changed."""
        params = {"name": name, "session_digest": session_digest}
        now = self._clock.now_utc()
        return await self._changing_workers(self._write(ops.worker_gone, params, now))

    async def list_workers(self) -> list[WorkerInfo]:
        """Return every registered worker, online first, then by name."""
        if self._workers is not None:
            return list(self._workers)
        writes = self._workers_writes
        workers = [row_to_worker(row) for row in await self._read_all("list_workers", {})]
        if writes == self._workers_writes:  # no write began while it was read
            self._workers = workers
        return list(workers)

    async def _changing_workers(self, write: Awaitable[T]) -> T:
        """Await a write to the workers table; the list read before or during it is dropped."""
        self._workers, self._workers_writes = None, self._workers_writes + 1
        try:
            return await write
        finally:
            self._workers, self._workers_writes = None, self._workers_writes + 1

    # --- retention -----------------------------------------------------------------------

    async def purge(self, finished_before: datetime) -> int:
        """Delete jobs (and their events) finished before the given time, and offline
        workers not seen since then; return how many jobs were deleted."""
        params = {"before": to_us(finished_before)}
        queries = self._queries

        def purge(conn: sqlite3.Connection) -> int:
            deleted = conn.execute(queries["purge_jobs"], params).rowcount
            conn.execute(queries["purge_workers"], params)
            return deleted

        self._check_open()
        return await self._changing_workers(self._writer.run(purge))

    # --- plumbing ------------------------------------------------------------------------

    def _connect(self, *, reader: bool) -> sqlite3.Connection:
        conn = sqlite3.connect(
            self.path,
            timeout=_BUSY_TIMEOUT_MS / 1000,
            isolation_level=None,  # transactions are explicit
            check_same_thread=not reader,
        )
        conn.row_factory = sqlite3.Row
        conn.execute("PRAGMA foreign_keys = ON")
        conn.execute(f"PRAGMA synchronous = {self._synchronous}")
        if reader:
            conn.execute("PRAGMA query_only = ON")
            conn.execute(f"PRAGMA cache_size = -{_READER_CACHE_KIB}")
        else:
            conn.create_function("new_lease_token", 0, new_lease_token)
        return conn

    def _connect_writer(self) -> sqlite3.Connection:
        return self._connect(reader=False)

    def _connect_reader(self) -> sqlite3.Connection:
        return self._connect(reader=True)

    def _migrate(self, migrations: list[Migration]) -> tuple[str | None, int]:
        """Apply the migrations the file lacks, each in its own transaction; return the
        newest job id (so new ids keep increasing) and how many migrations were applied."""
        applied = 0
        if not self.path.parent.is_dir():
            raise InvalidInput(f"cannot create the database {self.path}: no such directory")
        if self.path.is_dir():
            raise InvalidInput(f"cannot open the database {self.path}: it is a folder")
        conn = None
        try:
            conn = self._connect(reader=False)
            mode = conn.execute("PRAGMA journal_mode = WAL").fetchone()[0]
        except sqlite3.DatabaseError as exc:  # not a database, unreadable, locked
            if conn is not None:
                conn.close()
            if exc.sqlite_errorcode in _BUSY_CODES:
                raise ServerUnavailable(
                    f"{self.path} is locked by another connection (waited "
                    f"{_BUSY_TIMEOUT_MS / 1000:g} s): {exc}"
                ) from exc
            raise InvalidInput(f"{self.path} is not a usable SQLite database: {exc}") from exc
        try:
            if str(mode).lower() != "wal":
                raise InvalidInput(f"{self.path} cannot use write-ahead logging ({mode})")
            conn.execute(self._queries["create_schema_version"])
            for migration in migrations:
                conn.execute("BEGIN IMMEDIATE")
                try:
                    # Another process may have applied it while we waited for the lock.
                    done = {row[0] for row in conn.execute(self._queries["schema_versions"])}
                    if migration.version not in done:
                        for statement in migration.statements:
                            conn.execute(statement)
                        params = {
                            "version": migration.version,
                            "applied_at": to_us(self._clock.now_utc()),
                        }
                        conn.execute(self._queries["record_migration"], params)
                        applied += 1
                    conn.execute("COMMIT")
                except BaseException:
                    conn.execute("ROLLBACK")
                    raise
            row = conn.execute(self._queries["last_job_id"]).fetchone()
            return (None if row is None else row["id"]), applied
        finally:
            conn.close()

    async def _write(
        self,
        function: Callable[Concatenate[sqlite3.Connection, Mapping[str, str], P], T],
        *args: P.args,
        **kwargs: P.kwargs,
    ) -> T:
        self._check_open()
        queries = self._queries
        return await self._writer.run(lambda conn: function(conn, queries, *args, **kwargs))

    async def _execute(self, name: str, params: Mapping[str, Any]) -> None:
        self._check_open()
        sql = self._queries[name]
        await self._writer.run(lambda conn: conn.execute(sql, params).close())

    async def _read_all(self, name: str, params: Mapping[str, Any]) -> list[sqlite3.Row]:
        self._check_open()
        sql = self._queries[name]
        return await self._readers.run(lambda conn: conn.execute(sql, params).fetchall())

    async def _read_one(self, name: str, params: Mapping[str, Any]) -> sqlite3.Row | None:
        rows = await self._read_all(name, params)
        return rows[0] if rows else None

    def _check_open(self) -> None:
        if not self._open:
            raise StoreClosed(f"the store {self.path} is not open")


_check: type[Store] = SqliteStore


def _token(row: sqlite3.Row) -> TokenRecord:
    return row_to_token(
        row, created_at=from_us(row["created_at"]), revoked_at=maybe_from_us(row["revoked_at"])
    )
