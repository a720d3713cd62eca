"""What one server does when the store's change feed says jobs changed, through any server.

One subscriber drives every follow-up a change needs on this server: the sessions' lease
counts (the dispatcher's cache of what runs where), dispatcher wake-ups, result waiters,
live notices, and stop and drain requests for the workers connected here. So a cancel or a
drain sent to any server reaches the worker at once, wherever it is connected.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine, Sequence
from typing import Any

from rota.jobs import JobState
from rota.protocol import Cancel, Drain, Leases
from rota.server.dispatcher import Dispatcher, WorkerSession
from rota.server.events import REFRESH, Broadcaster
from rota.server.waiters import Waiters
from rota.store.feed import Change, DrainRequest, JobChange, Refresh
from rota.types import JobId

logger = logging.getLogger("rota.server.feed_follower")

STOP_REASON = "cancelled by request"


class FeedFollower:
    """The feed's subscriber on one server (call it with each batch of changes)."""

    def __init__(self, *, dispatcher: Dispatcher, waiters: Waiters, events: Broadcaster) -> None:
        self._dispatcher = dispatcher
        self._waiters = waiters
        self._events = events
        self._sending: set[asyncio.Task[Any]] = set()

    def __call__(self, changes: Sequence[Change]) -> None:
        """Apply a batch of changes; never blocks (frames go out in tasks of their own)."""
        jobs = [change for change in changes if isinstance(change, JobChange)]
        pending = False
        for change in jobs:
            self._tell_taken_back(change)
            self._dispatcher.follow(change)
            pending = pending or change.state is JobState.PENDING
            if change.stopping and change.state is JobState.CANCELLED:
                self._tell_to_stop(change)
            self._waiters.notify(change.job_id)
        if pending:
            # Due now or later: the dispatcher looks. Once for the batch: a wake looks at
            # every worker for a free slot, which a bulk's jobs would each repeat.
            self._dispatcher.wake()
        self._events.publish_changes(jobs)
        for other in changes:
            if isinstance(other, DrainRequest):
                session = self._dispatcher.get(other.worker)
                if session is not None:
                    self._spawn(drain(session))
            elif isinstance(other, Refresh):
                self._dispatcher.wake()
                self._waiters.notify_all()
                self._events.publish([REFRESH])

    async def close(self) -> None:
        """Wait briefly for frames still being sent."""
        if self._sending:
            await asyncio.wait(self._sending, timeout=1.0)

    def _tell_to_stop(self, change: JobChange) -> None:
        session = None if change.worker is None else self._dispatcher.get(change.worker)
        held = None if session is None else session.running.get(change.job_id)
        if session is None or held is None or held.cancel_sent:
            return  # not here, or told already; a worker back from away is told on hello
        if held.attempt is not None and held.attempt != change.attempt:
            return  # about an attempt the worker no longer runs
        held.cancel_sent = True
        self._spawn(stop(session, change.job_id))

    def _tell_taken_back(self, change: JobChange) -> None:
        """Tell a worker that holds jobs ahead (a device, or a worker with a lead) at once
        that a job it holds was taken back (edited): it drops the old version, and gets the
        new one when it comes within its reach. Workers without either hear of a lost lease
        at their next heartbeat, as before."""
        if change.leased or change.state is not JobState.PENDING or change.worker is None:
            return
        session = self._dispatcher.get(change.worker)
        if session is None or (session.horizon_s <= 0 and session.lead_s <= 0):
            return
        held = session.running.get(change.job_id)
        if held is None or (held.attempt is not None and held.attempt > change.attempt):
            return
        self._spawn(session.send(Leases(stale=(change.job_id,))))

    def _spawn(self, work: Coroutine[Any, Any, Any]) -> None:
        task = asyncio.create_task(work)
        self._sending.add(task)
        task.add_done_callback(self._sending.discard)


async def stop(session: WorkerSession, job_id: JobId) -> None:
    """Tell the worker to stop the job's code; it then releases the lease."""
    await session.send(Cancel(job_id=job_id, reason=STOP_REASON))


async def drain(session: WorkerSession) -> bool:
    """Send the worker no more jobs and ask it to drain; return whether it was told."""
    session.draining = True
    return await session.send(Drain())
