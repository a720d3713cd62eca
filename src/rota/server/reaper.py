"""Background upkeep: reap expired leases, expire overdue jobs, purge old history."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from datetime import timedelta

from rota.jobs import Job
from rota.store.base import Store

logger = logging.getLogger("rota.server.reaper")

RETENTION_INTERVAL_S = 3600.0


class Reaper:
    """Turns expired leases into retries and keeps the store from growing without end."""

    def __init__(
        self,
        *,
        store: Store,
        interval_s: float,
        retention_s: float,
        on_reaped: Callable[[list[Job], list[Job]], None] | None = None,
    ) -> None:
        self._store = store
        self._on_reaped = on_reaped
        self._interval_s = interval_s
        self._retention_s = retention_s

    async def reap_once(self) -> int:
        """Reap expired leases and expire overdue jobs once; return how many jobs changed.

        The store's change feed tells every server of the jobs changed: the slots the
        reaped leases held free up, waiters wake, and the dispatcher looks again.
        """
        reaped = await self._store.reap()
        expired = await self._store.expire_overdue()
        if self._on_reaped is not None and (reaped or expired):
            self._on_reaped(reaped, expired)
        if reaped:
            logger.info("reaped %d expired lease(s)", len(reaped))
        return len(reaped) + len(expired)

    async def purge_once(self) -> int:
        """Delete history older than the retention period; return how many jobs went."""
        cutoff = await self._store.now() - timedelta(seconds=self._retention_s)
        return await self._store.purge(cutoff)

    async def run_reaper(self) -> None:
        """Reap every interval until cancelled; a failed round is logged and retried."""
        while True:
            try:
                await self.reap_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("reaping failed; will try again")
            await asyncio.sleep(self._interval_s)

    async def run_retention(self) -> None:
        """Purge once at start, then every hour, until cancelled."""
        while True:
            try:
                purged = await self.purge_once()
                if purged:
                    logger.info("purged %d finished job(s) past retention", purged)
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("purging old jobs failed; will try again")
            await asyncio.sleep(RETENTION_INTERVAL_S)
