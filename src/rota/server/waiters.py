"""Long-poll waits for a job's outcome: a wake-up per job from the store's change feed (a
change made through any server), with a slow store poll in case a notice was lost."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterator

from rota.jobs import Job
from rota.store.base import Store
from rota.types import JobId

# The feed tells of changes made through every server; should a notice be lost (the
# database was unreachable), the store is still re-read this often.
FALLBACK_POLL_S = 2.0


class Waiters:
    """The requests waiting for jobs to change, keyed by job id."""

    def __init__(self) -> None:
        self._events: dict[JobId, set[asyncio.Event]] = {}

    def notify(self, job_id: JobId) -> None:
        """Wake every request waiting on the job (it changed)."""
        for event in self._events.get(job_id, ()):
            event.set()

    def notify_all(self) -> None:
        """Wake every waiting request (changes may have been missed: each reads again)."""
        for events in self._events.values():
            for event in events:
                event.set()

    def waiting(self, job_id: JobId) -> int:
        """Return how many requests wait on the job."""
        return len(self._events.get(job_id, ()))

    @contextlib.contextmanager
    def watch(self, job_id: JobId) -> Iterator[asyncio.Event]:
        """Register an event that `notify(job_id)` sets, for the duration of the block."""
        event = asyncio.Event()
        self._events.setdefault(job_id, set()).add(event)
        try:
            yield event
        finally:
            events = self._events.get(job_id)
            if events is not None:
                events.discard(event)
                if not events:
                    del self._events[job_id]

    async def wait_finished(self, store: Store, job_id: JobId, wait_s: float) -> Job:
        """Return the job once it is finished, or as it is when `wait_s` has passed."""
        loop = asyncio.get_running_loop()
        give_up_at = loop.time() + wait_s
        # Watch before the first read, so a change between read and wait is not missed.
        with self.watch(job_id) as event:
            while True:
                event.clear()
                job = await store.get_job(job_id)
                remaining_s = give_up_at - loop.time()
                if job.state.finished or remaining_s <= 0:
                    return job
                with contextlib.suppress(TimeoutError):
                    async with asyncio.timeout(min(FALLBACK_POLL_S, remaining_s)):
                        await event.wait()
