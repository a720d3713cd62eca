"""The scheduler loop: turns schedules' occurrences into pending jobs, exactly once each.

Every server runs it. Each round reads the schedules that fire soon, plans each one
(rota.scheduling.planner) and writes the plan with the store's compare-and-set, so when
several servers plan the same round only one writes it. Occurrences are written up to
LOOKAHEAD_S ahead with run_at = their fire time: the dispatcher, which sleeps until the
earliest run_at, then starts them as punctually as any delayed job.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import random
from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Final

from rota.scheduling.planner import horizon_s, plan
from rota.store.base import Store

logger = logging.getLogger("rota.server.scheduler")

LOOKAHEAD_S: Final = 3.0
"""How far ahead occurrences are written: more than the dispatchers' poll (1 s), so a server
other than the one that wrote a job still sees it before it is due."""
GRACE_S: Final = 1.0
"""An occurrence older than this when a round looks at it was missed (servers were down)."""
POLL_S: Final = 1.0
"""The longest the loop sleeps: it catches schedules other servers created or changed."""
BATCH: Final = 100
ERROR_PAUSE_S: Final = 0.5
_WAKE_MARGIN: Final = timedelta(milliseconds=1)


class Scheduler:
    """Fires the schedules of one store; safe to run on every server at once."""

    def __init__(
        self,
        *,
        store: Store,
        on_written: Callable[[], None] | None = None,
        lookahead_s: float = LOOKAHEAD_S,
        grace_s: float = GRACE_S,
        poll_s: float = POLL_S,
        rng: random.Random | None = None,
    ) -> None:
        self._store = store
        self._on_written = on_written
        self._lookahead_s = lookahead_s
        self._grace_s = grace_s
        self._poll_s = poll_s
        self._rng = rng or random.Random()
        self._wake = asyncio.Event()
        self.written = 0
        """Jobs this server wrote for schedules since it started."""

    def wake(self) -> None:
        """Ask for a round now (a schedule was created or changed here)."""
        self._wake.set()

    async def fire_once(self) -> tuple[int, datetime | None, bool]:
        """Run one round; return the jobs written, when the next round is needed (None: no
        schedule fires soon), and whether another round should follow at once."""
        now = await self._store.now()
        until = now + timedelta(seconds=self._lookahead_s + self._poll_s)
        schedules = await self._store.due_schedules(until, limit=BATCH)
        written, wake_at, again = 0, None, len(schedules) == BATCH
        for schedule in schedules:
            try:
                firing = plan(
                    schedule,
                    now,
                    lookahead_s=self._lookahead_s,
                    grace_s=self._grace_s,
                    rng=self._rng,
                )
                upcoming = schedule.next_fire_at
                if firing is not None:
                    jobs = await self._store.fire_schedule(firing)
                    if jobs is None:
                        again = True  # someone else moved it: read it again
                        continue
                    written += len(jobs)
                    self._report(schedule.name, firing.skipped, schedule.next_fire_at, now)
                    upcoming = firing.next_fire_at
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("firing schedule %r failed; will try again", schedule.name)
                continue
            if upcoming is not None:
                due = upcoming - timedelta(seconds=horizon_s(schedule, self._lookahead_s))
                wake_at = due if wake_at is None else min(wake_at, due)
        if written:
            # The store's change feed wakes the dispatchers; this hook is for observers.
            self.written += written
            if self._on_written is not None:
                self._on_written()
        return written, wake_at, again

    async def run(self) -> None:
        """Run rounds until cancelled: at each schedule's fire time minus the look-ahead,
        when woken, and at least every poll_s. A failed round is logged and retried."""
        while True:
            self._wake.clear()
            try:
                _, wake_at, again = await self.fire_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("scheduler round failed; will try again")
                await asyncio.sleep(ERROR_PAUSE_S)
                continue
            if again:
                continue
            timeout_s = self._poll_s
            if wake_at is not None:
                until_s = (wake_at + _WAKE_MARGIN - await self._store.now()).total_seconds()
                timeout_s = min(timeout_s, max(0.0, until_s))
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(timeout_s):
                    await self._wake.wait()

    def _report(self, name: str, skipped: int, first: datetime | None, now: datetime) -> None:
        if first is not None and first < now - timedelta(seconds=self._grace_s):
            logger.info("schedule %r missed occurrences since %s", name, first.isoformat())
        if skipped:
            logger.info("schedule %r skipped %d occurrence(s): overlap", name, skipped)
