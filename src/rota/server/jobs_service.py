"""The jobs service: each operation on jobs, and all its follow-ups, in one place.

The HTTP routes parse and answer, the gateway owns the workers' sockets and frames; both
call this service, which checks, writes to the store and counts what this server did.
The follow-ups every change needs (wake the dispatcher, wake result waiters, live notices,
tell a worker to stop its code or to drain) are not called here: the store's change feed
drives them (see feed_follower.py), on every server, whichever server made the change.
"""

from __future__ import annotations

import contextlib
import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from rota.errors import InvalidTransition, JobNotFound, StaleLease, WorkerNotFound
from rota.jobs import Event, Job, JobSpec, Lease
from rota.safe_text import excerpt
from rota.server.activity import Activity
from rota.server.catalog import TaskCatalog
from rota.server.dispatcher import Dispatcher, WorkerSession
from rota.server.feed_follower import drain
from rota.server.leases import Renewal, renew
from rota.server.waiters import Waiters
from rota.settings import Settings
from rota.store.base import JobChanges, Outcome, Settled, Store
from rota.store.feed import DrainRequest
from rota.types import JSON, JobId, LeaseToken
from rota.values import check_arguments

logger = logging.getLogger("rota.server.jobs_service")


@dataclass(frozen=True, kw_only=True, slots=True)
class Drained:
    """The outcome of a drain request."""

    told: bool
    """Whether the request went to the worker (here) or to the server it is connected to."""


class JobsService:
    """Performs operations on jobs for the API and the gateway of one server."""

    def __init__(
        self,
        *,
        store: Store,
        settings: Settings,
        dispatcher: Dispatcher,
        waiters: Waiters,
        activity: Activity,
        tasks: TaskCatalog,
    ) -> None:
        self._store = store
        self._settings = settings
        self._dispatcher = dispatcher
        self._waiters = waiters
        self._activity = activity
        self._tasks = tasks

    async def now(self) -> datetime:
        """Return the store's clock (what relative times in a request are measured from)."""
        return await self._store.now()

    # --- clients ---------------------------------------------------------------------

    async def submit(
        self, specs: Sequence[JobSpec], *, since: datetime | None, bulk: bool
    ) -> list[Job]:
        """Submit jobs (UnknownTask first, when tasks must be known); return them in order.

        Jobs created before `since` are idempotent repeats: they are not counted again.
        `since` may be None only when no spec has an idempotency key (every job is new).
        """
        if self._settings.server.strict_tasks:
            await self._tasks.check(
                (f"jobs[{index}]: " if bulk else "", spec.task) for index, spec in enumerate(specs)
            )
        jobs = await self._store.submit(specs)
        self._activity.submitted(jobs, since)
        return jobs

    async def update(self, job_id: JobId, changes: JobChanges) -> Job:
        """Change a pending job, or one a device holds ahead of its time (the store takes it
        back); args and kwargs are measured together against their limit."""
        if (changes.args is None) != (changes.kwargs is None):
            current = await self._store.get_job(job_id)
            check_arguments(
                current.args if changes.args is None else changes.args,
                current.kwargs if changes.kwargs is None else changes.kwargs,
            )
        return await self._store.update(job_id, changes)

    async def cancel(self, job_id: JobId) -> Job:
        """Cancel a job; a running one's worker is told to stop its code, on any server."""
        job = await self._store.cancel(job_id)
        self._activity.cancelled(job)
        return job

    async def retry(
        self,
        job_id: JobId,
        *,
        args: list[JSON] | None = None,
        kwargs: dict[str, JSON] | None = None,
    ) -> Job:
        """Put a finished job back to pending, due now, with new args or kwargs when given
        (already checked); JobStopping while its last attempt's code is still stopping."""
        return await self._store.retry(job_id, args=args, kwargs=kwargs)

    async def wait_finished(self, job_id: JobId, wait_s: float) -> Job:
        """Return the job once finished, or as it is when `wait_s` has passed."""
        return await self._waiters.wait_finished(self._store, job_id, wait_s)

    async def drain(self, name: str) -> Drained:
        """Ask a worker to drain, wherever it is connected; WorkerNotFound if it is nowhere."""
        session = self._dispatcher.get(name)
        if session is not None:
            return Drained(told=await drain(session))
        workers = {worker.name: worker for worker in await self._store.list_workers()}
        known = workers.get(name)
        if known is None or known.state == "offline":
            raise WorkerNotFound(f"no worker named {excerpt(name)} is connected to any server")
        self._store.feed.publish([DrainRequest(worker=name)])
        return Drained(told=True)

    # --- workers ---------------------------------------------------------------------

    async def renew(
        self, session: WorkerSession, leases: Sequence[Lease], *, unleased: int
    ) -> Renewal:
        """Extend the leases a worker names and count them; the renewal names the jobs
        cancelled while it ran them, for the gateway to tell it to stop."""
        renewal = await renew(
            self._store, session, leases, unleased=unleased, lease_s=self._settings.server.lease_s
        )
        if renewal.freed:
            self._dispatcher.wake()
        return renewal

    async def release(self, lease: Lease) -> Job:
        """Take back a job its worker did not finish, or end a stopped attempt's lease;
        StaleLease (and the like) when the lease is gone (see Store.release)."""
        return await self._store.release(lease)

    async def settle(self, outcomes: Sequence[Outcome]) -> list[Settled]:
        """Record many attempts' results and failures in one store transaction; return the
        job, or the error that refused it, for each (count each with count_settled)."""
        return await self._store.settle(outcomes)

    def count_settled(self, job: Job, kind: str) -> None:
        """Count a worker's result, failure or release (`kind`) the store recorded."""
        self._activity.settled(job, kind)

    async def end_lease(self, lease: Lease) -> None:
        """End the lease of an attempt whose code stopped, its outcome refused (the job was
        cancelled meanwhile); a lease already gone is no error."""
        with contextlib.suppress(StaleLease, JobNotFound, InvalidTransition):
            await self._store.release(lease)

    async def report_stopping(self, lease: Lease, message: str) -> None:
        """Record that an attempt's code was asked to stop (late reports are dropped)."""
        with contextlib.suppress(StaleLease, JobNotFound):  # about an attempt now over
            await self._store.report_stopping(lease, message)

    async def report_progress(
        self, lease: Lease, progress: float | None, message: str | None
    ) -> None:
        """Record a running job's progress (late reports are dropped) and show it live."""
        try:
            await self._store.report_progress(lease, progress, message)
        except (StaleLease, JobNotFound, InvalidTransition):
            return  # a late report about a job that moved on
        self._activity.progress(lease.job_id, progress, message)

    async def log(self, events: Sequence[Event]) -> None:
        """Append lines a task logged."""
        await self._store.log(events)

    async def attempt_of(
        self, session: WorkerSession, job_id: JobId, token: LeaseToken
    ) -> int | None:
        """Return the attempt a worker's lease is for, or None when the lease is stale."""
        held = session.running.get(job_id)
        if held is not None and held.token == token and held.attempt is not None:
            return held.attempt
        try:
            job = await self._store.get_job(job_id)
        except JobNotFound:
            return None
        if job.lease_token != token:
            return None
        if held is not None and held.token == token:
            held.attempt = job.attempt
        return job.attempt

    async def worker_seen(
        self, session: WorkerSession, *, running: int, resources: dict[str, Any]
    ) -> None:
        """Record a worker's heartbeat figures and show them live."""
        await self._store.worker_seen(
            session.name,
            running=running,
            state="draining" if session.draining else "online",
            resources=resources,
            session_digest=session.digest,
        )
        self._activity.worker(session.name, "seen", running=running)

    async def worker_left(self, session: WorkerSession, *, server_stopping: bool) -> None:
        """Record that a worker's connection ended, unless a later connection (through
        another server) holds its name by now: then its entry and leases are that one's."""
        if not await self._store.worker_gone(session.name, session_digest=session.digest):
            return
        if not server_stopping:
            # Its jobs may still finish if it reconnects within the grace period. When this
            # server is the one stopping, the worker is alive and comes back (here once
            # restarted, or to another server): its leases keep the time its last heartbeat
            # gave them, or a restart slower than the grace would run its jobs again while
            # their code still runs on it.
            await self._store.expire_leases_of(
                session.name, self._settings.server.disconnect_grace_s
            )

    async def worker_draining(self, session: WorkerSession) -> None:
        """Record that a worker drains (it said so)."""
        session.draining = True
        await self._store.worker_seen(
            session.name,
            running=session.busy,
            state="draining",
            resources=session.resources,
            session_digest=session.digest,
        )
        self._activity.worker(session.name, "draining")
