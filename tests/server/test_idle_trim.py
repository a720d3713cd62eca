"""The server hands the allocator's free memory back once per idle spell (idle_trim.py)."""

from __future__ import annotations

import asyncio
import logging
import platform
import sys

import pytest

from rota.server.app import create_app
from rota.server.idle_trim import IdleTrim, malloc_trim
from rota.server.state import Hub
from rota.settings import Settings
from rota.store.feed import Refresh
from rota.store.memory import MemoryStore

GLIBC = sys.platform.startswith("linux") and platform.libc_ver()[0] == "glibc"
WAIT_S = 10.0
"""The longest a test waits for the idle-trim loop (a loaded machine is slow, never wrong)."""


class _Trims:
    """A stand-in for malloc_trim that counts its calls (made in a thread of their own)."""

    def __init__(self, *, fail: bool = False) -> None:
        self.count = 0
        self._fail = fail
        self._loop = asyncio.get_running_loop()
        self._trimmed = asyncio.Event()

    def __call__(self) -> None:
        self.count += 1
        self._loop.call_soon_threadsafe(self._trimmed.set)
        if self._fail:
            raise OSError("no trim today")

    async def next(self) -> None:
        """Wait for the next call."""
        await asyncio.wait_for(self._trimmed.wait(), WAIT_S)
        self._trimmed.clear()


async def _hub() -> tuple[Hub, MemoryStore]:
    store = MemoryStore()
    await store.open()
    hub: Hub = create_app(Settings(), store).state.hub
    return hub, store


async def test_trims_once_when_changes_stop_and_never_while_busy() -> None:
    trims = _Trims()
    idle = IdleTrim(trims)
    assert not await idle.check()  # nothing happened yet: nothing to give back
    for _ in range(5):  # a change in every interval: busy
        idle([Refresh()])
        assert not await idle.check()
    assert await idle.check()  # the first quiet interval
    assert not await idle.check()  # still quiet: trimmed already
    assert not await idle.check()
    idle([Refresh()])
    assert not await idle.check()
    assert await idle.check()  # the next idle spell
    assert trims.count == idle.trims == 2


async def test_a_running_server_trims_once_after_its_store_feed_falls_quiet() -> None:
    hub, store = await _hub()
    trims = _Trims()
    hub.idle_trim = IdleTrim(trims, interval_s=0.01)
    async with hub.running():
        await asyncio.sleep(0.05)
        assert trims.count == 0  # no change yet: nothing to give back
        store.feed.publish([Refresh()])
        await trims.next()
        await asyncio.sleep(0.05)  # several quiet intervals more
        assert trims.count == 1
        store.feed.publish([Refresh()])  # the next burst
        await trims.next()
        assert trims.count == 2
    store.feed.publish([Refresh()])  # after the block: no longer subscribed
    assert hub.idle_trim.changes == 2
    await store.close()


async def test_a_failed_trim_is_logged_and_not_tried_again(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.ERROR, logger="rota.server.idle_trim")
    hub, store = await _hub()
    trims = _Trims(fail=True)
    hub.idle_trim = IdleTrim(trims, interval_s=0.01)
    async with hub.running():
        store.feed.publish([Refresh()])
        await trims.next()
        store.feed.publish([Refresh()])
        await asyncio.sleep(0.1)
        assert trims.count == 1
    assert "trimming the allocator failed" in caplog.text
    await store.close()


async def test_the_server_trims_with_glibc_malloc_trim() -> None:
    hub, store = await _hub()
    if GLIBC:
        assert hub.idle_trim is not None
    else:
        assert hub.idle_trim is None
    await store.close()


def test_malloc_trim_is_found_on_glibc() -> None:
    trim = malloc_trim()
    if GLIBC:
        assert trim is not None
        trim()  # harmless at any time
    else:
        assert trim is None
