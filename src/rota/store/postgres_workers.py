"""The PostgreSQL store's workers list, kept between reads: a single submission's warning
needs it every time, and reading it cost a round trip per submission.

Several servers write the workers table, so the list is dropped whenever the change feed says
a worker's entry changed, on any server:

- a worker verb on this server drops it before and after its write (a list read while the
  write was under way is not kept);
- another server's worker verb reaches this one as a WorkersChanged notice, a moment after
  its commit: the sender's pace (PACE_S, 10 ms) plus one NOTIFY's delivery, normally a few
  milliseconds more. A read that began before a notice arrived is not kept either, so a list
  kept never predates a notice already heard;
- while the listening connection is down, notices are lost: the list is not kept then, and
  the Refresh sent once it listens again drops it;
- whatever happens to the notices, a list is kept at most MAX_AGE_S (1 s).

So a list served from here is stale by at most the delivery of one notice (milliseconds),
and never by more than MAX_AGE_S.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Sequence
from typing import TypeVar

from rota.store.base import WorkerInfo
from rota.store.feed import Change, Refresh, WorkersChanged

T = TypeVar("T")

MAX_AGE_S = 1.0
"""The longest a workers list is kept, even when no notice came (notices lost unnoticed)."""


class WorkersCache:
    """The workers list as last read; `listening` tells whether notices can be heard now.

    Subscribe the cache to the store's feed (it is a feed subscriber), and pass every write
    to the workers table through `changing`.
    """

    def __init__(
        self,
        *,
        monotonic: Callable[[], float],
        listening: Callable[[], bool],
        max_age_s: float = MAX_AGE_S,
    ) -> None:
        self.max_age_s = max_age_s
        self._monotonic = monotonic
        self._listening = listening
        self._workers: list[WorkerInfo] | None = None
        self._read_at = 0.0
        self._changes = 0  # workers changes written or heard so far

    async def read(self, load: Callable[[], Awaitable[list[WorkerInfo]]]) -> list[WorkerInfo]:
        """Return the kept list if it may still be trusted, else `load()` it (and keep it
        when no change was written or heard while it was read)."""
        now = self._monotonic()
        if self._workers is not None and now - self._read_at < self.max_age_s:
            if self._listening():
                return list(self._workers)
        changes = self._changes
        workers = await load()
        if changes == self._changes and self._listening():
            self._workers, self._read_at = workers, now
        return list(workers)

    def forget(self) -> None:
        """Drop the kept list: a worker's entry changed, or may have."""
        self._workers, self._changes = None, self._changes + 1

    async def changing(self, write: Awaitable[T]) -> T:
        """Await a write to the workers table; a list read before or during it is dropped."""
        self.forget()
        try:
            return await write
        finally:
            self.forget()

    def __call__(self, changes: Sequence[Change]) -> None:
        """Hear the feed: drop the list when workers changed or notices may have been lost."""
        if any(isinstance(change, WorkersChanged | Refresh) for change in changes):
            self.forget()
