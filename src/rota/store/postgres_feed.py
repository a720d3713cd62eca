"""The change feed across servers over PostgreSQL: NOTIFY what this server changed, and
turn what the others NOTIFY back into changes on this server's feed.

What one server publishes is queued and sent by one task, as few NOTIFYs as fit the
payload limit, in one statement: under load many changes share one round trip, and a
verb never waits for it. The first change after a quiet moment goes at once; while changes
keep coming, sends are at least PACE_S apart, so a busy server sends a few dozen NOTIFY
transactions a second, not one per change. Each payload names the server that sent it, so a
server skips its own (it told its subscribers in-process already) without decoding it.

Changes that only help a live view (a job submitted or started) are summed up as one
Refresh when many come at once; those another server acts on (a stop request, a finished
job, a lease that ended with a worker named) always travel one by one; that workers changed
travels once per send.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import uuid
from collections.abc import Awaitable, Callable, Sequence
from datetime import datetime
from typing import Any, TypeVar

from rota.jobs import JobState
from rota.store.feed import Change, ChangeFeed, DrainRequest, JobChange, Refresh, WorkersChanged
from rota.store.postgres_conn import Connection
from rota.store.postgres_sql import Query, load_compiled

logger = logging.getLogger("rota.store.postgres_feed")

T = TypeVar("T")
Run = Callable[[Callable[[Connection], Awaitable[T]]], Awaitable[T]]

MAX_PAYLOAD_BYTES = 7900
"""PostgreSQL refuses a NOTIFY payload of 8000 bytes or more."""
SUMMED_UP_AFTER = 32
"""More view-only changes than this in one send go as one Refresh."""
PACE_S = 0.01
"""The least time between the starts of two sends, while changes keep coming."""


def new_origin() -> str:
    """Return a name for this store's payloads, unique among the servers."""
    return uuid.uuid4().hex


def acted_on(change: JobChange) -> bool:
    """Tell whether another server may have to act on the change (not only show it)."""
    ended_lease = change.worker is not None and not change.leased and change.attempt > 0
    return change.stopping or change.state.finished or ended_lease


def encode(origin: str, changes: Sequence[Change]) -> list[str]:
    """Return the NOTIFY payloads that carry the changes, each under MAX_PAYLOAD_BYTES."""
    view_only = [c for c in changes if isinstance(c, JobChange) and not acted_on(c)]
    summed_up = len(view_only) > SUMMED_UP_AFTER
    items: list[str] = []
    workers_told = False
    if summed_up:
        items.append(_dump(["refresh"]))
    for change in changes:
        if isinstance(change, JobChange):
            if summed_up and not acted_on(change):
                continue
            items.append(_dump(_job_item(change)))
        elif isinstance(change, DrainRequest):
            items.append(_dump(["drain", change.worker]))
        elif isinstance(change, WorkersChanged):
            if not workers_told:  # one says it for the whole send
                items.append(_dump(["workers"]))
                workers_told = True
        else:
            items.append(_dump(["refresh"]))
    head = f'{{"from":{_dump(origin)},"changes":['
    payloads: list[str] = []
    current: list[str] = []
    size = len(head) + 2
    for item in items:
        if current and size + len(item) + 1 > MAX_PAYLOAD_BYTES:
            payloads.append(head + ",".join(current) + "]}")
            current, size = [], len(head) + 2
        current.append(item)
        size += len(item) + 1  # json.dumps escapes all but ASCII: chars are bytes
    if current:
        payloads.append(head + ",".join(current) + "]}")
    return payloads


def decode(payload: str) -> tuple[str, list[Change]]:
    """Return the origin and the changes of one payload; ValueError if it is not one."""
    data = json.loads(payload)
    changes: list[Change] = []
    for item in data["changes"]:
        kind = item[0]
        if kind == "job":
            _, job_id, state, queue, task, worker, attempt, leased, stopping, progress, at = item
            changes.append(
                JobChange(
                    job_id=job_id,
                    state=JobState(state),
                    queue=queue,
                    task=task,
                    worker=worker,
                    attempt=int(attempt),
                    leased=bool(leased),
                    stopping=bool(stopping),
                    progress=progress,
                    updated_at=datetime.fromisoformat(at),
                )
            )
        elif kind == "drain":
            changes.append(DrainRequest(worker=item[1]))
        elif kind == "workers":
            changes.append(WorkersChanged())
        else:
            changes.append(Refresh())
    return str(data["from"]), changes


def _job_item(change: JobChange) -> list[Any]:
    return [
        "job",
        change.job_id,
        str(change.state),
        change.queue,
        change.task,
        change.worker,
        change.attempt,
        int(change.leased),
        int(change.stopping),
        change.progress,
        change.updated_at.isoformat(),
    ]


def _dump(value: Any) -> str:
    return json.dumps(value, separators=(",", ":"))


class FeedRelay:
    """Sends what this server's feed publishes to the other servers, and feeds it what they
    send. `run` runs a statement on a pooled connection."""

    def __init__(self, feed: ChangeFeed, run: Run[Any], channel: str) -> None:
        self.channel = channel
        self.origin = new_origin()
        self._feed = feed
        self._run = run
        self._queued: list[Change] = []
        self._ready = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._query: Query | None = None
        self._own_prefix = f'{{"from":{_dump(self.origin)},'

    async def start(self) -> None:
        """Relay from now on: the feed hands its changes here, a task sends them."""
        queries = await asyncio.to_thread(load_compiled, "rota.store.sql.postgres", "feed.sql")
        self._query = queries["notify_changes"]
        self._feed.relay_to(self.send)
        self._task = asyncio.create_task(self._sender(), name="rota-feed-relay")

    async def stop(self) -> None:
        """Send what is queued (briefly), then stop relaying."""
        self._feed.relay_to(None)
        task, self._task = self._task, None
        if task is None:
            return
        if self._queued:
            with contextlib.suppress(Exception):
                async with asyncio.timeout(2.0):
                    await self._flush()
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task

    def send(self, changes: Sequence[Change]) -> None:
        """Queue changes this server made, for the other servers."""
        self._queued.extend(changes)
        self._ready.set()

    def heard(self, payload: str) -> None:
        """Hand a payload another server sent to this server's feed (one of ours is skipped)."""
        if payload.startswith(self._own_prefix):
            return
        try:
            origin, changes = decode(payload)
        except (ValueError, KeyError, TypeError, IndexError):
            logger.warning("ignoring a change notice that cannot be read: %.80r", payload)
            return
        if origin != self.origin:
            self._feed.receive(changes)

    def missed(self) -> None:
        """Tell this server's feed that notices may have been lost (the connection was)."""
        self._feed.receive([Refresh()])

    async def _sender(self) -> None:
        loop = asyncio.get_running_loop()
        while True:
            await self._ready.wait()
            started = loop.time()
            try:
                await self._flush()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the database is down: the others fall back on polls
                logger.warning("telling other servers of changes failed: %r", exc)
                await asyncio.sleep(0.5)
                continue
            # Changes that came meanwhile wait out the pace and go together.
            await asyncio.sleep(max(0.0, started + PACE_S - loop.time()))

    async def _flush(self) -> None:
        self._ready.clear()
        changes, self._queued = self._queued, []
        payloads = encode(self.origin, changes)
        if payloads and self._query is not None:
            query = self._query
            args = query.args({"channel": self.channel, "payloads": payloads})
            await self._run(lambda conn: conn.execute(query.sql, *args))
