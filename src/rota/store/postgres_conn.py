"""The PostgreSQL store's connections: a pool pinned to one schema, and what happens when
the database goes away (ServerUnavailable, quickly, never a hang)."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Final, TypeAlias, TypeVar
from urllib.parse import urlsplit

import asyncpg

if TYPE_CHECKING:
    from asyncpg.pool import PoolConnectionProxy

from rota.errors import InvalidInput, ServerUnavailable

T = TypeVar("T")

Record: TypeAlias = asyncpg.Record
# The driver's proxy class is generic only in its type stubs.
Connection: TypeAlias = "PoolConnectionProxy[asyncpg.Record]"

_CLOSE_S = 5.0


def is_connection_loss(exc: BaseException) -> bool:
    """Tell whether an error means the database cannot be reached (rather than a refusal)."""
    return isinstance(
        exc,
        OSError  # refused, reset, unreachable, and TimeoutError: no answer in time
        | asyncpg.PostgresConnectionError  # 08xxx: the connection broke
        | asyncpg.exceptions.OperatorInterventionError  # 57xxx: shutdown, restart
        | asyncpg.exceptions.TooManyConnectionsError,
    ) or (isinstance(exc, asyncpg.InterfaceError) and "closed" in str(exc))


class ConnectionRunner:
    """Runs work on a pooled connection whose search_path is the store's schema."""

    def __init__(
        self,
        dsn: str,
        *,
        schema: str,
        pool_min: int,
        pool_max: int,
        connect_timeout_s: float,
        command_timeout_s: float,
        synchronous_commit: bool = True,
    ) -> None:
        self._dsn = dsn
        self._pool_min = pool_min
        self._pool_max = pool_max
        self._connect_timeout_s = connect_timeout_s
        self._command_timeout_s = command_timeout_s
        # Startup parameters: they hold for every connection, including reconnections.
        # The application name tells an operator which schema a connection serves. JIT is
        # off: the store's statements are short, but the planner cannot know how many rows
        # a claim reads per request (a LIMIT taken from the request), so with a large
        # backlog it costs them high enough to compile them, which took 0.3-3 s per claim
        # with 1M pending jobs, against 1 ms without.
        self._settings = {
            "search_path": schema,
            "application_name": f"rota:{schema}",
            "jit": "off",
        }
        if not synchronous_commit:
            self._settings["synchronous_commit"] = "off"
        self._pool: asyncpg.Pool[asyncpg.Record] | None = None
        self._closing = False
        self._running = 0
        self._idle = asyncio.Event()
        self._idle.set()
        self.where = _describe(dsn)
        """Where the database is, without credentials: for messages."""

    @property
    def started(self) -> bool:
        """Tell whether the pool is up and takes new work."""
        return self._pool is not None and not self._closing

    async def start(self) -> None:
        """Create the pool; ServerUnavailable if the database cannot be reached, InvalidInput
        if it refuses the connection (no such database or role, a wrong password, an unknown
        setting) or the DSN cannot be read (a port out of range, a bad sslmode)."""
        if self._pool is not None:
            return
        self._closing = False
        try:
            self._pool = await self.guard(
                asyncpg.create_pool(
                    self._dsn,
                    min_size=self._pool_min,
                    max_size=self._pool_max,
                    timeout=self._connect_timeout_s,
                    command_timeout=self._command_timeout_s,
                    server_settings=self._settings,
                    reset=_keep_session,
                )
            )
        except asyncpg.PostgresError as exc:
            if not _names_a_setting(exc):  # out of memory or disk, an internal error: passing
                raise self._unavailable(exc) from exc
            reason = str(exc) or type(exc).__name__
            raise InvalidInput(f"cannot use the database at {self.where}: {reason}") from exc
        except (asyncpg.InterfaceError, ValueError, OverflowError) as exc:
            # Raised by the driver reading the DSN: a setting to fix, not an outage.
            reason = str(exc) or type(exc).__name__
            raise InvalidInput(f"cannot use the database at {self.where}: {reason}") from exc

    async def stop(self) -> None:
        """Take no new work, let the work under way finish (for a while), close the pool."""
        if self._pool is None:
            return
        self._closing = True
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(self._command_timeout_s):
                await self._idle.wait()
        pool, self._pool = self._pool, None
        if pool is None:
            return
        try:
            async with asyncio.timeout(_CLOSE_S):
                await pool.close()
        except (TimeoutError, OSError, asyncpg.PostgresError, asyncpg.InterfaceError):
            pool.terminate()

    async def connect(self) -> asyncpg.Connection:
        """Open a connection of its own (outside the pool) with the same settings."""
        return await asyncpg.connect(
            self._dsn,
            timeout=self._connect_timeout_s,
            command_timeout=self._command_timeout_s,
            server_settings=self._settings,
        )

    async def guard(self, work: Awaitable[T]) -> T:
        """Await the work; turn a lost or refused connection into ServerUnavailable."""
        try:
            return await work
        except Exception as exc:
            if is_connection_loss(exc):
                raise self._unavailable(exc) from exc
            raise

    async def run(self, work: Callable[[Connection], Awaitable[T]], *, retry: bool) -> T:
        """Run the work on a pooled connection.

        A connection found dead before the work was sent (a restart the pool has not
        noticed yet) is replaced once. A connection lost while the work ran is replaced
        and the work run again only when `retry` says that is harmless (reads); otherwise
        the outcome is unknown and the caller gets ServerUnavailable.
        """
        pool = self._pool
        if pool is None or self._closing:
            raise ServerUnavailable(f"the store on {self.where} is closed")
        self._running += 1
        self._idle.clear()
        try:
            return await self._run(pool, work, retry=retry)
        finally:
            self._running -= 1
            if self._running == 0:
                self._idle.set()

    async def _run(
        self,
        pool: asyncpg.Pool[asyncpg.Record],
        work: Callable[[Connection], Awaitable[T]],
        *,
        retry: bool,
    ) -> T:
        for attempt in (1, 2):
            sent = False
            try:
                async with pool.acquire(timeout=self._connect_timeout_s) as conn:
                    sent = True
                    try:
                        return await work(conn)
                    except asyncpg.exceptions.InternalClientError:
                        conn.terminate()  # still held here: the pool replaces it
                        raise
            except asyncpg.DataError as exc:
                # 22xxx, or a value the driver cannot encode: the input, not the database.
                raise InvalidInput(f"the database refused a value: {exc}") from exc
            except asyncpg.exceptions.InternalClientError as exc:
                # A pooled connection the server ended while it sat idle (terminated, or a
                # restart) can be caught mid-way by its closing: the driver refuses to start
                # a statement on it. It was closed above and is replaced; a read runs again.
                if attempt == 2 or not retry:
                    raise self._unavailable(exc) from exc
                continue
            except Exception as exc:
                if not is_connection_loss(exc):
                    raise
                unsent = not sent or isinstance(exc, asyncpg.InterfaceError)
                if attempt == 2 or not (retry or unsent):
                    raise self._unavailable(exc) from exc
        raise AssertionError("unreachable")  # pragma: no cover

    def _unavailable(self, exc: BaseException) -> ServerUnavailable:
        if isinstance(exc, TimeoutError):
            reason = "it did not answer in time"
        else:
            reason = str(exc) or type(exc).__name__
        return ServerUnavailable(f"the database at {self.where} is unavailable: {reason}")


_SETTING_CLASSES: Final = ("22", "28", "3D", "42")
"""SQLSTATE classes of a refused connection that a setting of the DSN causes: a value of the
wrong form, who connects (role, password), which database, an unknown parameter."""


def _names_a_setting(exc: asyncpg.PostgresError) -> bool:
    """Tell whether the database refused a connection for a setting of the DSN (rather than
    for its own state, which may pass)."""
    return str(exc.sqlstate or "")[:2] in _SETTING_CLASSES


async def _keep_session(connection: asyncpg.Connection) -> None:
    """Return a connection to the pool as it is, without the driver's reset query.

    The driver still rolls back a transaction left open. Its default reset (closing cursors,
    UNLISTEN, RESET ALL, releasing advisory locks) is a round trip on every release, and the
    store never leaves any of those behind: settings are startup parameters, the listener has
    a connection of its own, and the only advisory lock is transaction-scoped.
    """


def _describe(dsn: str) -> str:
    with contextlib.suppress(ValueError):
        parts = urlsplit(dsn)
        host = parts.hostname or "localhost"
        port = f":{parts.port}" if parts.port else ""
        return f"{host}{port}{parts.path or ''}"
    return "PostgreSQL"
