"""Where a task's code runs, how it tells that it started, and how it is asked to stop.

- Sync code runs in a thread of its own, started at once: a new attempt never waits behind
  a stuck one. Python cannot kill a thread, but it can raise an exception in it
  (TaskInterrupted, as Dramatiq's time limit does); it lands at the thread's next Python
  bytecode, so code blocked in one long C call (a sleep, a read without a timeout) stops
  only when that call returns.
- Async code runs as a task on the worker's event loop; cancelling it stops it.
- Isolated sync code runs in a child process (worker/isolated.py); killing it stops it.

Each kind says when its code started (a timeout counts from then) and, through wait(), when
it has really stopped: only then is an attempt over and its slot free.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import ctypes
import threading
from collections.abc import Callable, Coroutine
from typing import Any, Protocol

from rota.errors import TaskInterrupted


class Code(Protocol):
    """One attempt's code, somewhere: started once, asked to stop any number of times."""

    started: asyncio.Event
    """Set when the task's own code begins to run."""

    def start(self) -> None:
        """Start the code; call once, on the event loop."""
        ...

    def interrupt(self) -> None:
        """Ask the code to stop (it may not, or not at once); safe to call again."""
        ...

    async def wait(self) -> Any:
        """Return what the code returned, or raise what it raised, once it has stopped."""
        ...


def raise_in_thread(ident: int, exception: type[BaseException] | None) -> int:
    """Make Python raise `exception` in the thread at its next bytecode (None takes back one
    not raised yet); return how many threads were affected (0: the thread is gone)."""
    # Without argtypes, ctypes passes None as NULL, which is what clears a pending one.
    target = None if exception is None else ctypes.py_object(exception)
    affected: int = ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), target)
    if affected > 1:  # cannot happen for a real thread id; undo rather than hit others
        ctypes.pythonapi.PyThreadState_SetAsyncExc(ctypes.c_ulong(ident), None)
    return affected


class ThreadCode:
    """Sync code in a daemon thread of its own, stopped by raising TaskInterrupted in it.

    With `interrupt` given (isolated tasks), stopping calls it instead, and the code marks
    its own start with mark_started().
    """

    def __init__(
        self,
        call: Callable[[], Any],
        *,
        name: str,
        interrupt: Callable[[], None] | None = None,
    ) -> None:
        # The copy carries the job's context into the thread, so current_job() works there.
        self._context = contextvars.copy_context()
        self._call = call
        self._name = name
        self._interrupt = interrupt
        self.started = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[Any] = self._loop.create_future()
        self._lock = threading.Lock()
        self._in_code = False
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """Start the thread."""
        self._thread = threading.Thread(target=self._main, name=self._name, daemon=True)
        with self._lock:
            self._in_code = True
        self._thread.start()

    def mark_started(self) -> None:
        """Tell, from any thread, that the task's own code began."""
        self._on_loop(self.started.set)

    def interrupt(self) -> None:
        """Raise TaskInterrupted in the thread while it runs the task (or call `interrupt`)."""
        if self._interrupt is not None:
            self._interrupt()
            return
        with self._lock:
            if self._in_code and self._thread is not None and self._thread.ident is not None:
                raise_in_thread(self._thread.ident, TaskInterrupted)

    async def wait(self) -> Any:
        """Return the task's value, or raise its exception, once the thread left its code."""
        return await asyncio.shield(self._ended)

    def _main(self) -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            try:
                if self._interrupt is None:
                    self.mark_started()
                value = self._context.run(self._call)
            except BaseException as exc:
                error = exc
            finally:
                self._leave_code()
        except TaskInterrupted as exc:  # landed after the task's code, before _leave_code
            error = error or exc
        self._on_loop(self._settle, value, error)

    def _leave_code(self) -> None:
        # After this no interrupt is sent, and one sent but not raised yet is taken back.
        while True:
            try:
                with self._lock:
                    self._in_code = False
                    if self._interrupt is None:
                        raise_in_thread(threading.get_ident(), None)
                return
            except TaskInterrupted:
                continue

    def _settle(self, value: Any, error: BaseException | None) -> None:
        if self._ended.done():
            return
        if error is None:
            self._ended.set_result(value)
        else:
            self._ended.set_exception(error)

    def _on_loop(self, callback: Callable[..., None], *args: Any) -> None:
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self._loop.call_soon_threadsafe(callback, *args)


class AsyncCode:
    """Async code as a task of its own on the worker's event loop, stopped by cancelling it."""

    def __init__(self, make: Callable[[], Coroutine[Any, Any, Any]], *, name: str) -> None:
        self._context = contextvars.copy_context()
        self._make = make
        self._name = name
        self.started = asyncio.Event()
        self._task: asyncio.Task[Any] | None = None

    def start(self) -> None:
        """Create the task, in the job's context."""
        self._task = asyncio.create_task(self._body(), name=self._name, context=self._context)

    def interrupt(self) -> None:
        """Cancel the task; a task that swallows the cancellation is cancelled again later."""
        if self._task is not None:
            self._task.cancel()

    async def wait(self) -> Any:
        """Return the task's value, or raise its exception, once it has finished."""
        if self._task is None:
            raise RuntimeError("the code was never started")
        await asyncio.wait([self._task])
        if self._task.cancelled():  # told apart from a cancellation of whoever waits
            raise TaskInterrupted("the task's coroutine was cancelled")
        return self._task.result()

    async def _body(self) -> Any:
        self.started.set()
        return await self._make()
