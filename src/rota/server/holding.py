"""Jobs the dispatcher claimed ahead of their moment (AHEAD_S), each held until it and then
handed to its worker, so that the claim's round trip is not part of how late it starts."""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING

from rota.jobs import Job

if TYPE_CHECKING:
    from rota.server.dispatcher import WorkerSession

logger = logging.getLogger("rota.server.dispatcher")

HandOver = Callable[["WorkerSession", list[Job]], Awaitable[int]]


class Holding:
    """Timers that hand held jobs over at their moment; cancelled with the dispatcher."""

    def __init__(self, hand_over: HandOver) -> None:
        self._hand_over = hand_over
        self._tasks: set[asyncio.Task[int]] = set()

    def hold(self, session: WorkerSession, jobs: list[Job], now: datetime) -> int:
        """Hand each job over once its run_at has come, `now` being the store's clock's
        moment; return how many are held."""
        later: dict[datetime, list[Job]] = {}
        for job in jobs:
            later.setdefault(job.run_at, []).append(job)
        for run_at, group in sorted(later.items()):
            wait_s = (run_at - now).total_seconds()
            task = asyncio.create_task(self._hand_over_after(session, group, wait_s))
            self._tasks.add(task)
            task.add_done_callback(self._tasks.discard)
        return len(jobs)

    def cancel(self) -> None:
        """Stop every timer: the held jobs' leases run out, as a gone worker's do."""
        for task in list(self._tasks):
            task.cancel()

    async def _hand_over_after(self, session: WorkerSession, jobs: list[Job], wait_s: float) -> int:
        # By the monotonic clock, checked again after each sleep: a timer may fire a hair
        # early on some event loops, and a job must never start before its moment.
        deadline = time.monotonic() + wait_s
        while (left_s := deadline - time.monotonic()) > 0:  # noqa: ASYNC110 - a timed wait
            await asyncio.sleep(left_s)
        try:
            return await self._hand_over(session, jobs)
        except Exception:  # the round that claimed them is over: nobody else would log it
            logger.exception("handing over jobs held until their moment failed")
            return 0
