"""LISTEN/NOTIFY on one dedicated connection, re-established after a loss: wake-ups for the
dispatcher, and the other servers' changes for the change feed (see postgres_feed.py)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

import asyncpg

Connect = Callable[[], Awaitable[asyncpg.Connection]]
OnPayload = Callable[[str], None]

# While the database is unreachable, a wait tries to listen again this often.
_RETRY_S = 1.0


class Listener:
    """Listens on one channel and tells a waiter when a notification arrived.

    A notification that arrives while nobody waits is kept (one flag, not a queue) and
    wakes the next wait at once, so a wake-up between two waits is never lost. When the
    connection is lost, notifications sent meanwhile are lost with it: the next wait then
    reconnects and reports a wake-up, so the caller looks for work it may have missed.

    With `feed_channel`, the same connection also listens there and hands each payload to
    `on_payload`; after a loss, `on_gap` is called once it listens again.
    """

    def __init__(
        self,
        connect: Connect,
        channel: str,
        *,
        monotonic: Callable[[], float],
        feed_channel: str | None = None,
        on_payload: OnPayload | None = None,
        on_gap: Callable[[], None] | None = None,
    ) -> None:
        self._connect = connect
        self._channel = channel
        self._feed_channel = feed_channel
        self._on_payload = on_payload
        self._on_gap = on_gap
        self._monotonic = monotonic
        self._connection: asyncpg.Connection | None = None
        self._woken = asyncio.Event()
        self._closed = False

    @property
    def listening(self) -> bool:
        """Tell whether the listening connection is up."""
        return self._connection is not None and not self._connection.is_closed()

    async def start(self) -> None:
        """Open the connection and LISTEN; raises if the database cannot be reached."""
        self._closed = False
        connection = await self._connect()
        try:
            await connection.add_listener(self._channel, self._on_notify)
            if self._feed_channel is not None:
                await connection.add_listener(self._feed_channel, self._on_feed)
        except BaseException:
            await _close_quietly(connection)
            raise
        connection.add_termination_listener(self._on_lost)
        self._connection = connection

    async def wait(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for a notification; return True when one arrived.

        While the connection is down, it is tried again every second or so of the wait.
        """
        deadline = self._monotonic() + max(0.0, timeout_s)
        while not self.listening and not self._closed and not self._woken.is_set():
            if await self._reconnect():
                break
            remaining = deadline - self._monotonic()
            if remaining <= 0:
                break
            await asyncio.sleep(min(remaining, _RETRY_S))
        if not self._woken.is_set():
            remaining = deadline - self._monotonic()
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(max(0.0, remaining)):
                    await self._woken.wait()
        woken = self._woken.is_set()
        self._woken.clear()
        return woken

    async def stop(self) -> None:
        """Stop listening and close the connection."""
        self._closed = True
        connection, self._connection = self._connection, None
        if connection is not None and not connection.is_closed():
            connection.remove_termination_listener(self._on_lost)
            with contextlib.suppress(Exception):
                await connection.remove_listener(self._channel, self._on_notify)
                if self._feed_channel is not None:
                    await connection.remove_listener(self._feed_channel, self._on_feed)
            await _close_quietly(connection)

    async def _reconnect(self) -> bool:
        old, self._connection = self._connection, None
        if old is not None:
            await _close_quietly(old)
        try:
            await self.start()
        except (OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            return False  # still down
        # Whatever was sent while we were not listening is lost: look for work anyway.
        self._woken.set()
        if self._on_gap is not None:
            self._on_gap()
        return True

    def _on_notify(self, connection: object, pid: int, channel: str, payload: object) -> None:
        self._woken.set()

    def _on_feed(self, connection: object, pid: int, channel: str, payload: object) -> None:
        if self._on_payload is not None and isinstance(payload, str):
            self._on_payload(payload)

    def _on_lost(self, connection: object) -> None:
        # Wake the waiter now; its next wait reconnects.
        if not self._closed:
            self._woken.set()


async def _close_quietly(connection: asyncpg.Connection) -> None:
    try:
        async with asyncio.timeout(2.0):
            await connection.close()
    except Exception:
        connection.terminate()
