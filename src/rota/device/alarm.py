"""The alarm: fires each held reminder at its due moment by this machine's own clock, with or
without a server.

Each occurrence waits in its own asyncio task. A long wait is cut into steps of at most
STEP_S, and the time left is read again from the clock after each, so a clock that is set
(NTP, a laptop waking from sleep) moves the ring with it; an occurrence already due when
set (a device that was off at the time) fires at once.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Awaitable, Callable
from contextvars import Context
from typing import Final

from rota.clock import SYSTEM_CLOCK, Clock
from rota.device.holdings import Held

STEP_S: Final = 30.0

logger = logging.getLogger("rota.device.alarm")

Fire = Callable[[Held], Awaitable[None]]


class Alarm:
    """Waits for the due moments of held reminders and calls `fire` for each, once."""

    def __init__(self, fire: Fire, *, clock: Clock = SYSTEM_CLOCK) -> None:
        self._fire = fire
        self._clock = clock
        self._waiting: dict[str, asyncio.Task[None]] = {}
        self._ringing: set[str] = set()

    def __contains__(self, key: object) -> bool:
        return key in self._waiting or key in self._ringing

    def __len__(self) -> int:
        return len(self._waiting)

    def set(self, item: Held) -> None:
        """Fire `item` at its due moment; setting an occurrence already set (or ringing)
        changes nothing."""
        if item.key in self:
            return
        # A context of its own: one set while a job runs must not carry that job's
        # context (its output capture, its cancellation) into the ring.
        self._waiting[item.key] = asyncio.create_task(
            self._wait_and_fire(item), name=f"rota-alarm {item.key}", context=Context()
        )

    def clear(self, key: str) -> bool:
        """Stop waiting for an occurrence (cancelled, edited, given back); return whether it
        was waiting. One that is ringing already finishes."""
        task = self._waiting.pop(key, None)
        if task is None:
            return False
        task.cancel()
        return True

    def close(self) -> None:
        """Stop every wait."""
        for key in list(self._waiting):
            self.clear(key)

    async def _wait_and_fire(self, item: Held) -> None:
        while True:
            left_s = (item.due_at - self._clock.now_utc()).total_seconds()
            if left_s <= 0:
                break
            await asyncio.sleep(min(left_s, STEP_S))
        # From here on the ring is not interrupted by a clear(): it is already under way.
        self._waiting.pop(item.key, None)
        self._ringing.add(item.key)
        try:
            await asyncio.shield(self._fire(item))
        except asyncio.CancelledError:
            raise
        except Exception:  # one reminder's failure must not silence the others
            logger.exception("ringing reminder %s failed", item.key)
        finally:
            self._ringing.discard(item.key)
