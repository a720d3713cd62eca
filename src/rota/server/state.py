"""The runtime objects of one server, built by create_app and reached through app.state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator, Iterable

from fastapi import Request

from rota.clock import Clock
from rota.errors import UnknownTask
from rota.jobs import Job
from rota.safe_text import excerpt
from rota.server.activity import Activity
from rota.server.dispatcher import Dispatcher
from rota.server.reaper import Reaper
from rota.server.scheduler import Scheduler
from rota.server.waiters import Waiters
from rota.settings import Settings
from rota.store.base import Store

BUILTIN_TASKS = frozenset({"rota.echo", "rota.sleep", "rota.sha256", "rota.http", "rota.shell"})
TASKS_TTL_S = 1.0
MAX_NAMES_IN_MESSAGE = 20


class TaskCatalog:
    """The task names a submission may use: what workers announced, plus the built-ins."""

    def __init__(self, store: Store, clock: Clock, *, ttl_s: float = TASKS_TTL_S) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._names: frozenset[str] = frozenset()
        self._read_at: float | None = None

    def invalidate(self) -> None:
        """Forget the cached names (a worker just announced its tasks)."""
        self._read_at = None

    async def names(self, *, fresh: bool = False) -> frozenset[str]:
        """Return every known task name, re-reading the store at most once a TTL."""
        now = self._clock.monotonic()
        if fresh or self._read_at is None or now - self._read_at >= self._ttl_s:
            self._names = frozenset(await self._store.known_tasks()) | BUILTIN_TASKS
            self._read_at = now
        return self._names

    async def check(self, names: Iterable[tuple[str, str]]) -> None:
        """Raise UnknownTask for the first (label, name) whose task nobody announced."""
        pending = list(names)
        known = await self.names()
        if all(name in known for _, name in pending):
            return
        # A worker may have joined another server a moment ago: look once more.
        known = await self.names(fresh=True)
        for label, name in pending:
            if name not in known:
                listed = sorted(known)
                shown = ", ".join(listed[:MAX_NAMES_IN_MESSAGE])
                if len(listed) > MAX_NAMES_IN_MESSAGE:
                    shown += f", ... {len(listed) - MAX_NAMES_IN_MESSAGE} more"
                raise UnknownTask(
                    f"{label}unknown task {excerpt(name)}: no worker has registered it "
                    f"(known: {shown})"
                )


class Hub:
    """Everything one server holds at run time: settings, store, sessions, waiters."""

    def __init__(self, *, settings: Settings, store: Store, clock: Clock) -> None:
        self.settings = settings
        self.store = store
        self.clock = clock
        self.server_name = f"{socket.gethostname()}:{os.getpid()}"
        self.activity = Activity()
        self.dispatcher = Dispatcher(
            store=store,
            policy=settings.server.dispatch_policy,
            lease_s=settings.server.lease_s,
            on_started=self.activity.started,
            on_failed=self._failed_at_dispatch,
        )
        self.waiters = Waiters()
        self.tasks = TaskCatalog(store, clock)
        self.reaper = Reaper(
            store=store,
            dispatcher=self.dispatcher,
            waiters=self.waiters,
            interval_s=settings.server.reaper_interval_s,
            retention_s=settings.store.retention_s,
            on_reaped=self.activity.reaped,
        )
        self.scheduler = Scheduler(store=store, on_written=self.dispatcher.wake)
        self.stopping = False
        """True once the server has begun to shut down (see begin_stopping)."""

    def begin_stopping(self) -> None:
        """Note that the server is shutting down, before it closes its connections, and end
        the endless event streams (or the shutdown would wait on them forever).

        The workers whose connections the shutdown closes are alive: they keep their leases
        (see the gateway), and reconnect to this server once restarted, or to another.
        """
        self.stopping = True
        self.activity.events.close()

    def _failed_at_dispatch(self, job: Job) -> None:
        """Tell waiters and watchers of a job the dispatcher failed (it could not be sent)."""
        self.activity.settled(job, "failure")
        self.waiters.notify(job.id)

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Run the dispatcher, reaper and retention loops for the duration of the block."""
        loops = [
            asyncio.create_task(self.dispatcher.run(), name="rota-dispatcher"),
            asyncio.create_task(self.dispatcher.listen(), name="rota-dispatcher-listen"),
            asyncio.create_task(self.reaper.run_reaper(), name="rota-reaper"),
            asyncio.create_task(self.reaper.run_retention(), name="rota-retention"),
            asyncio.create_task(self.scheduler.run(), name="rota-scheduler"),
        ]
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)


def hub_of(request: Request) -> Hub:
    """Return the hub of the app serving the request (a FastAPI dependency)."""
    hub: Hub = request.app.state.hub
    return hub
