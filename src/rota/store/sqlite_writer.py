"""The SQLite store's connections: one writer thread with group commit, and a reader pool.

SQLite lets one connection write at a time, and each commit waits for an fsync. So a single
thread owns the write connection and takes operations from a queue; it runs everything that
is queued (up to a bound) in one transaction, each operation inside its own savepoint so one
failing operation does not undo the others, commits once, and only then answers the callers.
Many concurrent submissions and completions thus share one fsync, and each caller still
learns of its outcome only once that outcome is durable.
"""

from __future__ import annotations

import asyncio
import queue
import sqlite3
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

from rota.errors import StoreClosed

T = TypeVar("T")

Operation = Callable[[sqlite3.Connection], T]
"""Work done with a connection; for writes, inside the current transaction."""


@dataclass(slots=True)
class _Pending(Generic[T]):
    operation: Operation[T]
    loop: asyncio.AbstractEventLoop
    future: asyncio.Future[T]


_STOP = object()


class SqliteWriter:
    """Runs write operations on one connection, committing them in groups."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, max_batch: int = 512) -> None:
        self._connect = connect
        self._max_batch = max_batch
        self._queue: queue.SimpleQueue[object] = queue.SimpleQueue()
        self._thread: threading.Thread | None = None
        self._started = threading.Event()
        self._start_error: BaseException | None = None
        self._closing = False

    async def start(self) -> None:
        """Start the writer thread and wait until its connection is open."""
        if self._thread is not None:
            return
        self._thread = threading.Thread(target=self._main, name="rota-sqlite-writer", daemon=True)
        self._thread.start()
        await asyncio.to_thread(self._started.wait)
        if self._start_error is not None:
            error, self._thread = self._start_error, None
            raise error

    async def run(self, operation: Operation[T]) -> T:
        """Run `operation` in the next group commit and return its result once committed."""
        if self._thread is None or self._closing:
            raise StoreClosed()
        loop = asyncio.get_running_loop()
        future: asyncio.Future[T] = loop.create_future()
        self._queue.put(_Pending(operation, loop, future))
        return await future

    async def stop(self) -> None:
        """Commit every operation already queued, then close the connection."""
        thread = self._thread
        if thread is None or self._closing:
            return
        self._closing = True
        self._queue.put(_STOP)
        await asyncio.to_thread(thread.join)
        self._thread = None
        self._closing = False

    def _main(self) -> None:
        try:
            connection = self._connect()
        except BaseException as exc:  # reported to start()'s caller
            self._start_error = exc
            self._started.set()
            return
        self._started.set()
        try:
            stop = False
            while not stop:
                first = self._queue.get()
                if first is _STOP:
                    break
                batch: list[_Pending[Any]] = [first]  # type: ignore[list-item]
                while len(batch) < self._max_batch:
                    try:
                        item = self._queue.get_nowait()
                    except queue.Empty:
                        break
                    if item is _STOP:
                        stop = True
                        break
                    batch.append(item)  # type: ignore[arg-type]
                self._commit(connection, batch)
        finally:
            connection.close()

    def _commit(self, connection: sqlite3.Connection, batch: list[_Pending[Any]]) -> None:
        if len(batch) == 1:
            outcomes = [_alone(connection, batch[0].operation)]
        else:
            outcomes = _together(connection, batch)
        for pending, (ok, value) in zip(batch, outcomes, strict=True):
            try:
                pending.loop.call_soon_threadsafe(_settle, pending.future, ok, value)
            except RuntimeError:
                pass  # the caller's loop is closed: nobody waits for this answer


def _alone(connection: sqlite3.Connection, operation: Operation[Any]) -> tuple[bool, Any]:
    """Run one operation in a transaction of its own: no savepoint, as its failure undoes
    the whole transaction (two statements fewer than in a group)."""
    try:
        connection.execute("BEGIN IMMEDIATE")
        try:
            value = operation(connection)
        except Exception as exc:
            connection.execute("ROLLBACK")
            return False, exc
        connection.execute("COMMIT")
        return True, value
    except Exception as exc:
        # The transaction failed (BEGIN, COMMIT or ROLLBACK): nothing of it is durable.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        return False, exc


def _together(connection: sqlite3.Connection, batch: list[_Pending[Any]]) -> list[tuple[bool, Any]]:
    """Run the operations in one transaction, each in its own savepoint, so that one that
    fails does not undo the others."""
    outcomes: list[tuple[bool, Any]] = []
    try:
        connection.execute("BEGIN IMMEDIATE")
        for pending in batch:
            connection.execute("SAVEPOINT operation")
            try:
                value = pending.operation(connection)
            except Exception as exc:
                connection.execute("ROLLBACK TO operation")
                connection.execute("RELEASE operation")
                outcomes.append((False, exc))
            else:
                connection.execute("RELEASE operation")
                outcomes.append((True, value))
        connection.execute("COMMIT")
    except Exception as exc:
        # The transaction as a whole failed: nothing of it is durable.
        if connection.in_transaction:
            connection.execute("ROLLBACK")
        outcomes = [(False, exc)] * len(batch)
    return outcomes


def _settle(future: asyncio.Future[Any], ok: bool, value: Any) -> None:
    if future.done():
        return  # the caller was cancelled; the change itself is committed
    if ok:
        future.set_result(value)
    else:
        future.set_exception(value)


class SqliteReaders:
    """Runs read operations in a small thread pool, one connection per thread."""

    def __init__(self, connect: Callable[[], sqlite3.Connection], *, size: int = 4) -> None:
        self._connect = connect
        self._size = size
        self._pool: queue.SimpleQueue[sqlite3.Connection] = queue.SimpleQueue()
        self._connections: list[sqlite3.Connection] = []
        self._executor: ThreadPoolExecutor | None = None

    async def start(self) -> None:
        """Open the read connections."""
        if self._executor is not None:
            return
        connections = await asyncio.to_thread(lambda: [self._connect() for _ in range(self._size)])
        self._connections = connections
        for connection in connections:
            self._pool.put(connection)
        self._executor = ThreadPoolExecutor(self._size, thread_name_prefix="rota-sqlite-read")

    async def run(self, operation: Operation[T]) -> T:
        """Run `operation` on a read connection in a worker thread and return its result."""
        if self._executor is None:
            raise StoreClosed()
        loop = asyncio.get_running_loop()
        return await loop.run_in_executor(self._executor, self._read, operation)

    def _read(self, operation: Operation[T]) -> T:
        connection = self._pool.get()
        try:
            return operation(connection)
        finally:
            if connection.in_transaction:
                connection.rollback()
            self._pool.put(connection)

    async def stop(self) -> None:
        """Wait for running reads, then close every read connection."""
        executor, self._executor = self._executor, None
        if executor is None:
            return
        connections, self._connections = self._connections, []

        def shut() -> None:
            executor.shutdown(wait=True)
            for connection in connections:
                connection.close()

        await asyncio.to_thread(shut)
