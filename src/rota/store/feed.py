"""The store's change feed: which jobs changed, told to every part of every server that cares.

Each verb that changes jobs publishes one JobChange per job it changed, after the change is
durable and before the verb returns; so a caller that awaited a verb finds every subscriber
already told. The feed is in-process for every backend; a store shared by several servers
(PostgreSQL) also relays what it publishes to the other servers' feeds (see
postgres_feed.py), where it arrives a moment later, without the lease token.

Besides job changes the feed carries requests for a worker, wherever it is connected
(DrainRequest), word that a worker's entry changed (WorkersChanged: a cached workers list
is stale), and Refresh: changes may have been missed (a lost connection), so a subscriber
should look at the store again instead of trusting what it cached.
"""

from __future__ import annotations

import functools
import logging
from collections.abc import Callable, Coroutine, Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Concatenate, ParamSpec, Protocol, TypeAlias, TypeVar

from rota.jobs import Job, JobState
from rota.types import JobId, LeaseToken

logger = logging.getLogger("rota.store.feed")


@dataclass(frozen=True, kw_only=True, slots=True)
class JobChange:
    """A job's state after a change: enough to wake, notify and stop, without a read."""

    job_id: JobId
    state: JobState
    queue: str
    task: str
    worker: str | None
    attempt: int
    """The attempt the change concerns: attempts only grow, so an older change is known."""
    leased: bool
    """Whether a worker holds the job's lease (it runs, or its code is still stopping)."""
    stopping: bool
    """Whether the worker was asked to stop the attempt's code (cancelled while it ran)."""
    progress: float | None
    updated_at: datetime
    lease_token: LeaseToken | None = None
    """The lease's token, on the server that made the change only: never relayed."""

    @classmethod
    def of(cls, job: Job) -> JobChange:
        """Return the change that leaves the job as given."""
        return cls(
            job_id=job.id,
            state=job.state,
            queue=job.queue,
            task=job.task,
            worker=job.worker,
            attempt=job.attempt,
            leased=job.lease_token is not None,
            stopping=job.stopping,
            progress=job.progress,
            updated_at=job.updated_at,
            lease_token=job.lease_token,
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class DrainRequest:
    """Ask the worker of this name, on whichever server it is connected to, to drain."""

    worker: str


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkersChanged:
    """A worker's entry changed (its hello, a heartbeat, its leaving, a purge): a workers
    list read before is stale. Published by a store shared by several servers."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Refresh:
    """Changes may have been missed: read the store again rather than trust a cache."""


Change: TypeAlias = JobChange | DrainRequest | WorkersChanged | Refresh
Subscriber: TypeAlias = Callable[[Sequence[Change]], None]
Relay: TypeAlias = Callable[[Sequence[Change]], None]


class ChangeFeed:
    """Hands each published batch of changes to every subscriber, in order, at once.

    Subscribers are plain functions: they must not block (they set events, queue notices
    or start tasks). One that raises is logged and the others are still told.
    """

    def __init__(self) -> None:
        self._subscribers: list[Subscriber] = []
        self._relay: Relay | None = None

    def subscribe(self, subscriber: Subscriber) -> Callable[[], None]:
        """Add a subscriber; return the function that removes it."""
        self._subscribers.append(subscriber)

        def unsubscribe() -> None:
            if subscriber in self._subscribers:
                self._subscribers.remove(subscriber)

        return unsubscribe

    def relay_to(self, relay: Relay | None) -> None:
        """Also hand what this server publishes to `relay` (for the other servers)."""
        self._relay = relay

    def publish(self, changes: Sequence[Change]) -> None:
        """Tell every subscriber here of changes made here, and relay them."""
        if not changes:
            return
        self._deliver(changes)
        if self._relay is not None:
            self._relay(changes)

    def publish_jobs(self, jobs: Sequence[Job]) -> None:
        """Publish the new state of each job."""
        if jobs:
            self.publish([JobChange.of(job) for job in jobs])

    def receive(self, changes: Sequence[Change]) -> None:
        """Tell every subscriber here of changes another server made (never relayed)."""
        if changes:
            self._deliver(changes)

    def _deliver(self, changes: Sequence[Change]) -> None:
        for subscriber in list(self._subscribers):
            try:
                subscriber(changes)
            except Exception:
                logger.exception("a change feed subscriber failed")


class HasFeed(Protocol):
    """A store with a change feed."""

    @property
    def feed(self) -> ChangeFeed: ...


S = TypeVar("S", bound=HasFeed)
P = ParamSpec("P")
R = TypeVar("R")


def emits_changes(
    verb: Callable[Concatenate[S, P], Coroutine[Any, Any, R]],
) -> Callable[Concatenate[S, P], Coroutine[Any, Any, R]]:
    """Make a store verb publish the jobs it returns on the feed: a Job, or a list of them
    (other items, such as a refused outcome's error, are passed over), or a list of lists.

    The hook a backend adds to each verb that changes jobs; the publishing happens after
    the change is durable, before the verb returns.
    """

    @functools.wraps(verb)
    async def publishing(store: S, /, *args: P.args, **kwargs: P.kwargs) -> R:
        outcome = await verb(store, *args, **kwargs)
        store.feed.publish_jobs(list(_jobs_in(outcome)))
        return outcome

    return publishing


def _jobs_in(outcome: object) -> Iterator[Job]:
    if isinstance(outcome, Job):
        yield outcome
    elif isinstance(outcome, list):
        for item in outcome:
            yield from _jobs_in(item)
