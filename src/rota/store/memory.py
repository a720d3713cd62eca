"""The in-memory store: the whole Store contract in one process, nothing on disk.

It keeps every guarantee of the other backends: each verb is one atomic step (one lock, no
await inside), leases are fenced by their token, idempotency keys return the first job, and
rota.lifecycle decides every retry and failure. Its "now" is the injected clock. It is for
tests (Rota's, and later users' test mode); a MemoryData shared by two stores is what "the
same database" means here.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
from collections.abc import Hashable, Iterator, Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from rota.auth.tokens import TokenRecord
from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidInput, StoreClosed, TokenNotFound
from rota.jobs import Event, Job, JobSpec, JobState, Lease
from rota.safe_text import excerpt
from rota.scheduling.model import Firing, Schedule, ScheduleSpec
from rota.store import memory_leases as leases
from rota.store import memory_ops as ops
from rota.store import memory_reads as reads
from rota.store.base import (
    AcquireRequest,
    JobChanges,
    JobPage,
    JobQuery,
    Outcome,
    QueueStats,
    Settled,
    Store,
    WorkerInfo,
    claim_key,
)
from rota.store.common import (
    dump_json,
    page_params,
    prepare_outcomes,
    retry_params,
    to_page,
    to_us,
)
from rota.store.explore import (
    SAMPLE_EVERY_S,
    SAMPLES_KEPT_S,
    AttemptError,
    ScheduleSkip,
    TaskStats,
    WorkerSample,
)
from rota.store.feed import ChangeFeed, emits_changes
from rota.store.insights import (
    Lateness,
    ThroughputBucket,
)
from rota.store.memory_data import MemoryData, detached
from rota.store.memory_schedules import MemorySchedules
from rota.store.names import NameClaim, NameHeld
from rota.types import JSON, JobId


class MemoryStore:
    """A Store in this process's memory."""

    def __init__(self, *, clock: Clock = SYSTEM_CLOCK, data: MemoryData | None = None) -> None:
        self._data = data if data is not None else MemoryData()
        self._clock = clock
        self._open = False
        self.shared = data is not None
        """Given its data, it stands for one of several servers' stores (in tests)."""
        self.feed = ChangeFeed()
        """The jobs this store changed (a store in one process's memory: in-process only)."""
        self._schedules = MemorySchedules(step=self._step, clock=clock, submit=ops.submit)

    def __repr__(self) -> str:
        return "MemoryStore()"

    # --- lifecycle ---------------------------------------------------------------------

    async def open(self) -> None:
        """Make the store usable (there is nothing to connect to or migrate)."""
        self._open = True

    async def close(self) -> None:
        """Make the store unusable; what it holds stays in its MemoryData."""
        self._open = False

    async def migrate(self) -> int:
        """Return 0: memory has no schema."""
        return 0

    async def now(self) -> datetime:
        """Return the store's clock: the injected one."""
        return self._clock.now_utc()

    # --- clients -----------------------------------------------------------------------

    @emits_changes
    @detached
    async def submit(self, specs: Sequence[JobSpec]) -> list[Job]:
        """Insert jobs as pending, all or none, and return them in order."""
        with self._step() as data:
            return ops.submit(data, specs, self._clock.now_utc())

    @detached
    async def get_job(self, job_id: JobId) -> Job:
        """Return the job, or raise JobNotFound."""
        with self._step() as data:
            return data.job(job_id)

    @detached
    async def list_jobs(self, query: JobQuery) -> JobPage:
        """Return one page of jobs matching the query, in its order."""
        if not query.plain:
            with self._step() as data:
                return reads.filter_jobs(list(data.jobs.values()), query)
        params = page_params(query)
        with self._step() as data:
            found = reads.matching(data.jobs.values(), query, before=params["before"])
        return to_page(found[: params["limit"]], query.limit)

    @emits_changes
    @detached
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
        values: dict[str, Any] = {}
        if changes.run_at is not None:
            to_us(changes.run_at)  # InvalidInput for a naive moment
            values["run_at"] = changes.run_at
        if changes.priority is not None:
            values["priority"] = changes.priority
        if changes.args is not None:
            values["args"] = ops.copy_json(dump_json(changes.args, "args"))
        if changes.kwargs is not None:
            values["kwargs"] = ops.copy_json(dump_json(changes.kwargs, "kwargs"))
        with self._step() as data:
            return ops.update(data, job_id, values, self._clock.now_utc())

    @emits_changes
    @detached
    async def cancel(self, job_id: JobId) -> Job:
        """Cancel a pending or running job; a running job stays stopping until its worker
        releases the lease (its code stopped) or the lease expires."""
        with self._step() as data:
            return ops.cancel(data, job_id, self._clock.now_utc())

    @emits_changes
    @detached
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
        with self._step() as data:
            job = ops.retry(data, job_id, self._clock.now_utc())
            changes = {
                name: ops.copy_json(text) for name, text in params.items() if text is not None
            }
            if changes:  # in the same step: nothing can claim it in between
                job = data.put(replace(job, **changes))
                data.events[job.id][-1] = replace(data.events[job.id][-1], message=message)
            return job

    async def events(self, job_id: JobId, *, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Return the job's execution log in order (JobNotFound for an unknown id)."""
        with self._step() as data:
            data.job(job_id)
            lines = [event for event in data.events[job_id] if (event.id or 0) > after_id]
        return lines[:limit]

    async def queue_stats(self) -> list[QueueStats]:
        """Return depth, running count and oldest due age for every queue with live jobs."""
        with self._step() as data:
            return reads.queue_stats(data.jobs.values(), self._clock.now_utc())

    async def known_tasks(self) -> set[str]:
        """Return every task name a registered worker (online or not) has announced."""
        with self._step() as data:
            return {task for worker in data.workers.values() for task in worker.tasks}

    # --- dispatch and leases -------------------------------------------------------------

    @emits_changes
    @detached
    async def acquire(self, request: AcquireRequest) -> list[Job]:
        """Claim up to `limit` due pending jobs the worker may run, and return them running."""
        if request.lease_s <= 0:
            raise InvalidInput("lease_s must be positive")
        with self._step() as data:
            return leases.acquire(data, request, self._clock.now_utc())

    @emits_changes
    @detached
    async def acquire_many(self, requests: Sequence[AcquireRequest]) -> list[list[Job]]:
        """Claim jobs for several workers' free slots in one atomic step, request by request."""
        if any(request.lease_s <= 0 for request in requests):
            raise InvalidInput("lease_s must be positive")
        with self._step() as data:
            now = self._clock.now_utc()
            served: list[list[Job]] = []
            short: set[Hashable] = set()
            for request in requests:
                key = claim_key(request)
                jobs = [] if key in short else leases.acquire(data, request, now)
                if len(jobs) < request.limit:
                    short.add(key)
                served.append(jobs)
            return served

    async def extend(
        self, worker: str, tokens: Sequence[str], lease_s: float
    ) -> dict[str, JobState]:
        """Extend the worker's leases to now + lease_s; return the state of each valid one's
        job by token (running, or cancelled: stop its code)."""
        with self._step() as data:
            return leases.extend(data, worker, tokens, lease_s, self._clock.now_utc())

    async def expire_leases_of(self, worker: str, grace_s: float) -> int:
        """Bring every lease the worker holds to expire within grace_s."""
        with self._step() as data:
            return leases.expire_leases_of(data, worker, grace_s, self._clock.now_utc())

    @emits_changes
    @detached
    async def complete(self, lease: Lease, result: JSON) -> Job:
        """Mark the job succeeded with its result. StaleLease unless the token is current."""
        stored = ops.copy_json(dump_json(result, "the result"))
        with self._step() as data:
            return leases.complete(data, lease, stored, self._clock.now_utc())

    @emits_changes
    @detached
    async def fail(
        self, lease: Lease, *, error: str, traceback: str | None = None, retryable: bool = True
    ) -> Job:
        """Record a failed attempt: retried with backoff while attempts are left, else failed."""
        with self._step() as data:
            now = self._clock.now_utc()
            return leases.fail(
                data, lease, now, error=error, traceback=traceback, retryable=retryable
            )

    @emits_changes
    @detached
    async def settle(
        self, outcomes: Sequence[Outcome], *, lines: Sequence[Event] = ()
    ) -> list[Settled]:
        """Record many outcomes, each fenced by its own lease, and append log lines, in one
        atomic step; a refused outcome leaves its error in its place."""
        results = [
            ops.copy_json(prepared) if isinstance(prepared, str) else prepared
            for prepared in prepare_outcomes(outcomes)
        ]
        with self._step() as data:
            now = self._clock.now_utc()
            answers = [
                leases.settle_one(data, outcome, result, now)
                for outcome, result in zip(outcomes, results, strict=True)
            ]
            for line in lines:
                data.append(line)
        return [copy.deepcopy(answer) if isinstance(answer, Job) else answer for answer in answers]

    @emits_changes
    @detached
    async def release(self, lease: Lease) -> Job:
        """Give a running job back unrun (pending, due now, the attempt not counted), or end
        the lease of a job cancelled while it ran, whose code has stopped."""
        with self._step() as data:
            return leases.release(data, lease, self._clock.now_utc())

    @emits_changes
    @detached
    async def report_stopping(self, lease: Lease, message: str) -> Job:
        """Mark the attempt stopping (its code was asked to stop) and log why."""
        with self._step() as data:
            return leases.report_stopping(data, lease, message, self._clock.now_utc())

    async def report_progress(
        self, lease: Lease, progress: float | None, message: str | None = None
    ) -> None:
        """Store the job's progress (0..1) and log the message. StaleLease unless current."""
        if progress is not None and not 0.0 <= progress <= 1.0:
            raise InvalidInput("progress is a fraction between 0 and 1")
        with self._step() as data:
            leases.report_progress(data, lease, progress, message, self._clock.now_utc())

    async def log(self, events: Sequence[Event]) -> None:
        """Append lines a task logged to the execution log (lines of deleted jobs are dropped)."""
        with self._step() as data:
            for event in events:
                data.append(event)

    @emits_changes
    @detached
    async def reap(self) -> list[Job]:
        """Treat every expired lease as a lost attempt and return the jobs it changed."""
        with self._step() as data:
            return leases.reap(data, self._clock.now_utc())

    @emits_changes
    @detached
    async def expire_overdue(self) -> list[Job]:
        """Move pending jobs whose deadline has passed to expired, and return them."""
        with self._step() as data:
            return ops.expire_overdue(data, self._clock.now_utc())

    async def next_run_at(self, ahead_s: float = 0.0) -> datetime | None:
        """Return the earliest run_at among pending jobs not yet due at now + ahead_s."""
        with self._step() as data:
            now = self._clock.now_utc() + timedelta(seconds=ahead_s)
            later = [
                data.jobs[job_id].run_at
                for job_id in data.pending
                if data.jobs[job_id].run_at > now
            ]
        return min(later, default=None)

    async def wait_for_work(self, timeout_s: float) -> bool:
        """Wait timeout_s and return False: only this process uses the store, and it wakes its
        own dispatcher directly whenever it makes work due."""
        await asyncio.sleep(timeout_s)
        return False

    # --- workers -------------------------------------------------------------------------

    async def register_worker(
        self, info: WorkerInfo, claim: NameClaim | None = None
    ) -> NameHeld | None:
        """Insert or replace the worker's entry as online (its hello), unless a live
        connection elsewhere holds the name."""
        resources = ops.copy_json(dump_json(info.resources, "resources"))
        with self._step() as data:
            return ops.register_worker(data, info, claim, resources, self._clock.now_utc())

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
        changes = {
            "running": running,
            "state": state,
            "resources": ops.copy_json(dump_json(resources, "resources")),
        }
        now = self._clock.now_utc()
        with self._step() as data:
            seen = ops.worker_changed(data, name, session_digest, now, **changes)
            if seen and state != "offline" and changes["resources"]:
                _sample(data, name, now, running, changes["resources"])

    async def worker_gone(self, name: str, *, session_digest: str | None = None) -> bool:
        """Mark the worker offline (with a session_digest, only while the entry holds that
        session); tell whether it was changed."""
        now = self._clock.now_utc()
        with self._step() as data:
            return ops.worker_changed(data, name, session_digest, now, state="offline", running=0)

    @detached
    async def list_workers(self) -> list[WorkerInfo]:
        """Return every registered worker, online first, then by name."""
        rank = {"online": 0, "draining": 1}
        with self._step() as data:
            workers = list(data.workers.values())
        return sorted(workers, key=lambda worker: (rank.get(worker.state, 2), worker.name))

    # --- tokens --------------------------------------------------------------------------

    async def create_token(self, record: TokenRecord) -> None:
        """Keep a new token (its digest, never its secret)."""
        with self._step() as data:
            data.tokens[record.id] = record

    async def create_first_token(self, record: TokenRecord) -> bool:
        """Keep the token only if the store never had one; tell whether it was kept."""
        with self._step() as data:
            if data.tokens:
                return False
            data.tokens[record.id] = record
            return True

    async def list_tokens(self) -> list[TokenRecord]:
        """Return every token ever made, revoked ones too, oldest first."""
        with self._step() as data:
            return sorted(data.tokens.values(), key=lambda token: token.created_at)

    async def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke the token (again is a no-op) and return it; TokenNotFound if unknown."""
        with self._step() as data:
            record = data.tokens.get(token_id)
            if record is None:
                raise TokenNotFound(f"no token has the id {excerpt(token_id)}")
            if record.revoked_at is None:
                record = replace(record, revoked_at=self._clock.now_utc())
                data.tokens[token_id] = record
            return record

    # --- retention -----------------------------------------------------------------------

    async def purge(self, finished_before: datetime) -> int:
        """Delete jobs (and their events) finished before the given time, and offline
        workers not seen since then; return how many jobs were deleted."""
        with self._step() as data:
            return ops.purge(data, finished_before)

    # --- insights ------------------------------------------------------------------------

    async def throughput(self, since: datetime, bucket_s: int) -> list[ThroughputBucket]:
        """Return the buckets since `since` in which jobs succeeded or failed for good."""
        with self._step() as data:
            return reads.throughput(data.jobs.values(), since, bucket_s)

    async def lateness(self, since: datetime) -> Lateness:
        """Return the lateness of jobs that finished since `since` after starting."""
        with self._step() as data:
            return reads.lateness(data.jobs.values(), since)

    async def event_watermark(self) -> int:
        """Return the id of the newest event, 0 when there is none."""
        with self._step() as data:
            return data.last_event_id

    # --- explore -------------------------------------------------------------------------

    async def task_stats(self, since: datetime) -> list[TaskStats]:
        """Return the figures of every task (see Explorer.task_stats)."""
        with self._step() as data:
            return reads.task_stats(data.jobs.values(), since)

    @detached
    async def attempt_errors(self, job_id: JobId) -> list[AttemptError]:
        """Return the error and traceback of each failed attempt of the job, in order."""
        with self._step() as data:
            kept = data.attempt_errors.get(job_id, {})
            return [kept[attempt] for attempt in sorted(kept)]

    @detached
    async def worker_samples(self, name: str) -> list[WorkerSample]:
        """Return the worker's kept resource samples, oldest first."""
        with self._step() as data:
            return list(data.worker_samples.get(name, []))

    async def schedule_skips(
        self,
        schedule_id: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = 200,
    ) -> list[ScheduleSkip]:
        """Return the schedule's skipped occurrences in [after, before), newest first."""
        with self._step() as data:
            kept = data.schedule_skips.get(schedule_id, [])
            found = [
                skip
                for skip in reversed(kept)
                if (after is None or skip.fire_at >= after)
                and (before is None or skip.fire_at < before)
            ]
        return found[:limit]

    # --- what the verbs share --------------------------------------------------------------

    @contextlib.contextmanager
    def _step(self) -> Iterator[MemoryData]:
        """Hold the data's lock for one atomic step of a verb (StoreClosed if not open)."""
        if not self._open:
            raise StoreClosed("the in-memory store is not open")
        with self._data.lock:
            yield self._data

    # --- schedules -----------------------------------------------------------------------

    @detached
    async def create_schedule(self, spec: ScheduleSpec, next_fire_at: datetime | None) -> Schedule:
        """Insert a schedule with a new id at version 1; ScheduleExists if the name is taken."""
        return self._schedules.create(spec, next_fire_at)

    @detached
    async def get_schedule(self, ref: str) -> Schedule:
        """Return the schedule with that id, or else that name; ScheduleNotFound if none."""
        return self._schedules.get(ref)

    @detached
    async def list_schedules(self) -> list[Schedule]:
        """Return every schedule, by name."""
        return self._schedules.all()

    @detached
    async def update_schedule(
        self,
        schedule_id: str,
        *,
        version: int,
        spec: ScheduleSpec,
        next_fire_at: datetime | None,
    ) -> Schedule:
        """Replace the spec and next fire time if the version is still current."""
        return self._schedules.update(schedule_id, version, spec, next_fire_at)

    @detached
    async def delete_schedule(self, schedule_id: str) -> Schedule:
        """Remove the schedule and cancel its occurrences written ahead of their time."""
        return self._schedules.delete(schedule_id)

    @detached
    async def due_schedules(self, until: datetime, limit: int = 100) -> list[Schedule]:
        """Return active schedules whose next fire time, less their own lookahead_s, is at
        or before `until`, soonest first."""
        return self._schedules.due(until, limit)

    @emits_changes
    @detached
    async def fire_schedule(self, firing: Firing) -> list[Job] | None:
        """Advance the schedule and write its occurrences, if its version is still current."""
        return self._schedules.fire(firing)


def _sample(
    data: MemoryData, name: str, now: datetime, running: int, resources: dict[str, Any]
) -> None:
    """Keep a resource sample, at most one per SAMPLE_EVERY_S, for SAMPLES_KEPT_S (as the
    SQL stores' trigger does)."""
    samples = data.worker_samples.setdefault(name, [])
    if samples and (now - samples[-1].at).total_seconds() < SAMPLE_EVERY_S:
        return
    samples.append(WorkerSample(at=now, running=running, resources=copy.deepcopy(resources)))
    horizon = now - timedelta(seconds=SAMPLES_KEPT_S)
    samples[:] = [sample for sample in samples if sample.at > horizon]


_check: type[Store] = MemoryStore
