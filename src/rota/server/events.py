"""Live notices for the dashboard: an in-process broadcaster of job and worker changes.

The gateway, dispatcher, API and reaper publish what changed on this server; each open
`GET /api/v1/events` stream subscribes. Changes made through other servers reach the
streams through a store watermark poll instead (see api/events.py), as a "refresh" hint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rota.jobs import Job

MAX_QUEUED = 500
"""Notices a slow subscriber may fall behind by before it gets one "refresh" instead."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """One thing that changed: `kind` is job, worker or refresh; `data` is JSON-ready."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def job_notice(job: Job) -> Notice:
    """Return the notice of a job's new state."""
    return Notice(
        kind="job",
        data={
            "id": job.id,
            "state": str(job.state),
            "queue": job.queue,
            "task": job.task,
            "worker": job.worker,
            "attempt": job.attempt,
            "progress": job.progress,
            "stopping": job.stopping,
            "updated_at": job.updated_at.isoformat(),
        },
    )


def worker_notice(name: str, state: str, **details: Any) -> Notice:
    """Return the notice of a worker joining, leaving or reporting."""
    return Notice(kind="worker", data={"name": name, "state": state, **details})


REFRESH = Notice(kind="refresh")
CLOSING = Notice(kind="closing")


class Subscription:
    """One stream's queue of notices; on overflow the backlog becomes a single refresh."""

    def __init__(self, max_queued: int) -> None:
        self._queue: asyncio.Queue[Notice] = asyncio.Queue()
        self._max_queued = max_queued
        self._overflowed = False
        self.closed = False

    def put(self, notice: Notice) -> None:
        """Queue a notice without ever blocking the publisher."""
        if self._overflowed:
            return
        if self._queue.qsize() >= self._max_queued:
            self._overflowed = True
            while not self._queue.empty():
                self._queue.get_nowait()
            self._queue.put_nowait(REFRESH)
            return
        self._queue.put_nowait(notice)

    async def get(self, timeout_s: float) -> Notice | None:
        """Return the next notice, or None when none came within timeout_s."""
        try:
            async with asyncio.timeout(timeout_s):
                notice = await self._queue.get()
        except TimeoutError:
            return None
        if notice is REFRESH:
            self._overflowed = False
        return notice

    def end(self) -> None:
        """Mark the subscription closed and wake its reader with a `closing` notice."""
        self.closed = True
        self._queue.put_nowait(CLOSING)


class Broadcaster:
    """Fans notices out to every open subscription of this server."""

    def __init__(self, *, max_queued: int = MAX_QUEUED) -> None:
        self._subscriptions: set[Subscription] = set()
        self._max_queued = max_queued
        self.closed = False

    @property
    def subscribers(self) -> int:
        """Return how many streams are open."""
        return len(self._subscriptions)

    def publish(self, notices: Iterable[Notice]) -> None:
        """Hand the notices to every subscriber (never blocks, never raises on slow ones)."""
        if not self._subscriptions:
            return
        for notice in notices:
            for subscription in self._subscriptions:
                subscription.put(notice)

    def publish_jobs(self, jobs: Iterable[Job]) -> None:
        """Publish the new state of each job."""
        if self._subscriptions:
            self.publish(job_notice(job) for job in jobs)

    @contextlib.contextmanager
    def subscribe(self) -> Iterator[Subscription]:
        """Open a subscription for the duration of the block."""
        subscription = Subscription(self._max_queued)
        subscription.closed = self.closed
        self._subscriptions.add(subscription)
        try:
            yield subscription
        finally:
            self._subscriptions.discard(subscription)

    def close(self) -> None:
        """Tell every stream to end (the server is stopping) and refuse new ones."""
        self.closed = True
        for subscription in self._subscriptions:
            subscription.end()
