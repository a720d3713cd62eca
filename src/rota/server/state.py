"""The runtime objects of one server, built by create_app and reached through app.state."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import AsyncIterator

from fastapi import Request

from rota.clock import Clock
from rota.jobs import Job
from rota.server.activity import Activity
from rota.server.catalog import TaskCatalog
from rota.server.dispatcher import Dispatcher
from rota.server.feed_follower import FeedFollower
from rota.server.guard import Guard
from rota.server.idle_trim import IdleTrim, malloc_trim
from rota.server.jobs_service import JobsService
from rota.server.reaper import Reaper
from rota.server.scheduler import Scheduler
from rota.server.waiters import Waiters
from rota.settings import Settings
from rota.store.base import Store


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
            clock=clock,
            on_started=self.activity.started,
            on_failed=self._failed_at_dispatch,
        )
        self.waiters = Waiters()
        self.guard = Guard(store, anonymous=settings.auth.anonymous)
        self.tasks = TaskCatalog(store, clock)
        self.jobs = JobsService(
            store=store,
            settings=settings,
            dispatcher=self.dispatcher,
            waiters=self.waiters,
            activity=self.activity,
            tasks=self.tasks,
        )
        """Every operation on jobs, with its follow-ups: what routes and gateway call."""
        self.follower = FeedFollower(
            dispatcher=self.dispatcher, waiters=self.waiters, events=self.activity.events
        )
        self.reaper = Reaper(
            store=store,
            interval_s=settings.server.reaper_interval_s,
            retention_s=settings.store.retention_s,
            on_reaped=self.activity.reaped,
        )
        self.scheduler = Scheduler(store=store)
        trim = malloc_trim()
        self.idle_trim = None if trim is None else IdleTrim(trim)
        """Hands the allocator's free memory back once the server falls idle (glibc only)."""
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
        """Count a job the dispatcher failed (it could not be sent)."""
        self.activity.settled(job, "failure")

    @contextlib.asynccontextmanager
    async def running(self) -> AsyncIterator[None]:
        """Follow the store's change feed, and run the dispatcher, reaper, retention,
        scheduler and idle-trim loops, for the duration of the block."""
        unsubscribes = [self.store.feed.subscribe(self.follower)]
        loops = [
            asyncio.create_task(self.dispatcher.run(), name="rota-dispatcher"),
            asyncio.create_task(self.dispatcher.listen(), name="rota-dispatcher-listen"),
            asyncio.create_task(self.reaper.run_reaper(), name="rota-reaper"),
            asyncio.create_task(self.reaper.run_retention(), name="rota-retention"),
            asyncio.create_task(self.scheduler.run(), name="rota-scheduler"),
            asyncio.create_task(self.guard.run(), name="rota-guard"),
        ]
        if self.idle_trim is not None:
            unsubscribes.append(self.store.feed.subscribe(self.idle_trim))
            loops.append(asyncio.create_task(self.idle_trim.run(), name="rota-idle-trim"))
        try:
            yield
        finally:
            for task in loops:
                task.cancel()
            await asyncio.gather(*loops, return_exceptions=True)
            for unsubscribe in unsubscribes:
                unsubscribe()
            await self.follower.close()


async def hub_of(request: Request) -> Hub:
    """Return the hub of the app serving the request (a FastAPI dependency).

    Async on purpose: FastAPI runs a plain function dependency in a worker thread, a thread
    hop on every request for one attribute read."""
    hub: Hub = request.app.state.hub
    return hub
