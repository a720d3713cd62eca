"""The server's loops end when cancelled, even when a wake-up lands in the same instant.

On Python 3.11, asyncio.wait_for returns the result instead of raising when the cancel comes
while the awaited thing has just finished: a loop waiting for its wake-up event with a
timeout then swallowed the cancel and ran forever, so the server never stopped (seen when the
scheduler woke the dispatcher as the app shut down). These tests put the cancel in exactly
that instant instead of waiting for it to happen by chance.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Coroutine
from typing import Any

import pytest

from rota.server.dispatcher import Dispatcher
from rota.server.scheduler import Scheduler
from rota.store.base import Store

ENDS_WITHIN_S = 10.0


class WatchedEvent(asyncio.Event):
    """An event that tells when someone waits on it."""

    def __init__(self) -> None:
        super().__init__()
        self.waited = asyncio.Event()

    async def wait(self) -> bool:  # type: ignore[override]
        self.waited.set()
        return await super().wait()


async def cancel_as_woken(
    run: Callable[[], Coroutine[Any, Any, None]],
    wake: Callable[[], None],
    event: WatchedEvent,
    steps: int,
) -> bool:
    """Start the loop, wait until it sleeps on its event, wake it, let `steps` turns of the
    event loop pass, cancel it once, and return whether it then ended as cancelled."""
    task = asyncio.create_task(run())
    await asyncio.wait_for(event.waited.wait(), ENDS_WITHIN_S)
    wake()
    for _ in range(steps):
        await asyncio.sleep(0)
    task.cancel()
    await asyncio.wait({task}, timeout=ENDS_WITHIN_S)
    ended = task.done() and task.cancelled()
    while not task.done():  # leave nothing running behind a failed test
        task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    return ended


@pytest.mark.parametrize("steps", range(4))
async def test_the_dispatcher_ends_when_cancelled_as_it_is_woken(store: Store, steps: int) -> None:
    dispatcher = Dispatcher(store=store, policy="least-loaded", lease_s=10.0)
    event = WatchedEvent()
    dispatcher._wake = event
    assert await cancel_as_woken(dispatcher.run, dispatcher.wake, event, steps)


@pytest.mark.parametrize("steps", range(4))
async def test_the_scheduler_ends_when_cancelled_as_it_is_woken(store: Store, steps: int) -> None:
    scheduler = Scheduler(store=store, on_written=lambda: None)
    event = WatchedEvent()
    scheduler._wake = event
    assert await cancel_as_woken(scheduler.run, scheduler.wake, event, steps)
