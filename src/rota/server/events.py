"""Live notices for the dashboard: an in-process broadcaster of job and worker changes.

Job notices come from the store's change feed, so changes made through any server show;
worker and progress notices from what this server's workers say. Each open
`GET /api/v1/events` stream subscribes. What the feed does not carry (log lines, progress
reported to other servers) shows through a store watermark poll (see api/events.py), as a
"refresh" hint.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

from rota.store.feed import JobChange

MAX_QUEUED = 500
"""Notices a slow subscriber may fall behind by before it gets one "refresh" instead."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Notice:
    """One thing that changed: `kind` is job, worker or refresh; `data` is JSON-ready."""

    kind: str
    data: dict[str, Any] = field(default_factory=dict)


def job_notice(change: JobChange) -> Notice:
    """Return the notice of a job's new state."""
    return Notice(
        kind="job",
        data={
            "id": change.job_id,
            "state": str(change.state),
            "queue": change.queue,
            "task": change.task,
            "worker": change.worker,
            "attempt": change.attempt,
            "progress": change.progress,
            "stopping": change.stopping,
            "updated_at": change.updated_at.isoformat(),
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

    def publish_changes(self, changes: Iterable[JobChange]) -> None:
        """Publish the new state of each changed job."""
        if self._subscriptions:
            self.publish(job_notice(change) for change in changes)

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
