"""Where a task's code runs, how it tells that it started, and how it is asked to stop.

- Sync code runs in a thread of its own, at once: a new attempt never waits behind a stuck
  one. Threads whose code returned wait for the next attempt (Threads), so a short task
  costs no thread start. Python cannot kill a thread, but it can raise an exception in it
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
import queue
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


MAX_IDLE_THREADS = 64
"""The most threads kept waiting for the next attempt; one more returns and ends."""


class Threads:
    """Threads for sync tasks' code, kept once their code has returned, so the next attempt
    starts without a new thread. A thread still in its code (stuck, or slow) is not taken:
    each attempt gets a thread free at that moment, or a new one."""

    def __init__(self, *, max_idle: int = MAX_IDLE_THREADS) -> None:
        self._idle: list[_Runner] = []
        self._lock = threading.Lock()
        self._max_idle = max_idle

    def run(self, work: Callable[[], None], name: str) -> int:
        """Run `work` in a free thread named `name`; return the thread's id."""
        with self._lock:
            runner = self._idle.pop() if self._idle else None
        if runner is None:
            runner = _Runner(self)
        return runner.run(work, name)

    @property
    def idle(self) -> int:
        """How many threads wait for their next work now."""
        with self._lock:
            return len(self._idle)

    def _back(self, runner: _Runner) -> bool:
        """Take a thread whose work returned back; False: it should end."""
        with self._lock:
            if len(self._idle) >= self._max_idle:
                return False
            self._idle.append(runner)
            return True


class _Runner:
    """One thread of Threads: runs the work it is given, one at a time."""

    def __init__(self, threads: Threads) -> None:
        self._threads = threads
        self._work: queue.SimpleQueue[tuple[Callable[[], None], str]] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._main, daemon=True)
        self._started = False

    def run(self, work: Callable[[], None], name: str) -> int:
        self._work.put((work, name))
        if not self._started:
            self._started = True
            self._thread.name = name
            self._thread.start()
        ident = self._thread.ident
        assert ident is not None  # set once start() returns
        return ident

    def _main(self) -> None:
        while True:
            work, name = self._work.get()
            self._thread.name = name
            work()  # ThreadCode._main: it catches everything
            if not self._threads._back(self):
                return


class LoopCalls:
    """Calls from other threads to run on one event loop, those made close together on one
    wake-up of the loop (each call_soon_threadsafe writes to the loop's wake-up pipe)."""

    def __init__(self, loop: asyncio.AbstractEventLoop) -> None:
        self.loop = loop
        self._lock = threading.Lock()
        self._calls: list[tuple[Callable[..., None], tuple[Any, ...]]] = []

    def call(self, callback: Callable[..., None], *args: Any) -> None:
        """Run callback(*args) on the loop soon, after the calls made before it; from any
        thread. Nothing runs once the loop is closed."""
        with self._lock:
            self._calls.append((callback, args))
            if len(self._calls) > 1:
                return  # a wake-up is on its way already
        with contextlib.suppress(RuntimeError):  # the loop is gone: nobody waits any more
            self.loop.call_soon_threadsafe(self._run)

    def _run(self) -> None:
        with self._lock:
            calls, self._calls = self._calls, []
        for callback, args in calls:
            callback(*args)


class ThreadCode:
    """Sync code in a daemon thread (see Threads), stopped by raising TaskInterrupted in it.

    With `interrupt` given (isolated tasks), stopping calls it instead, and the code marks
    its own start with mark_started(). `threads` and `calls` are shared by the attempts of
    one worker; each code makes its own when not given.
    """

    def __init__(
        self,
        call: Callable[[], Any],
        *,
        name: str,
        interrupt: Callable[[], None] | None = None,
        threads: Threads | None = None,
        calls: LoopCalls | None = None,
    ) -> None:
        # The copy carries the job's context into the thread, so current_job() works there.
        self._context = contextvars.copy_context()
        self._call = call
        self._name = name
        self._interrupt = interrupt
        self.started = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        self._ended: asyncio.Future[Any] = self._loop.create_future()
        self._threads = threads or Threads(max_idle=0)
        self._calls = calls or LoopCalls(self._loop)
        self._lock = threading.Lock()
        self._in_code = False
        self._interrupted = False
        self._ident: int | None = None

    def start(self) -> None:
        """Start the code in a thread."""
        self._ident = self._threads.run(self._main, self._name)

    def mark_started(self) -> None:
        """Tell, from any thread, that the task's own code began."""
        self._calls.call(self.started.set)

    def interrupt(self) -> None:
        """Raise TaskInterrupted in the thread while it runs the task (or call `interrupt`);
        asked before the thread reached the task, the task does not begin."""
        if self._interrupt is not None:
            self._interrupt()
            return
        with self._lock:
            self._interrupted = True
            if self._in_code and self._ident is not None:
                raise_in_thread(self._ident, TaskInterrupted)

    async def wait(self) -> Any:
        """Return the task's value, or raise its exception, once the thread left its code."""
        return await asyncio.shield(self._ended)

    def _main(self) -> None:
        value: Any = None
        error: BaseException | None = None
        try:
            try:
                with self._lock:
                    self._in_code = True
                    interrupted = self._interrupted and self._interrupt is None
                if interrupted:
                    raise TaskInterrupted("the task was stopped before it began")
                if self._interrupt is None:
                    self.mark_started()
                value = self._context.run(self._call)
            except BaseException as exc:
                error = exc
            finally:
                self._leave_code()
        except TaskInterrupted as exc:  # landed after the task's code, before _leave_code
            error = error or exc
        self._calls.call(self._settle, value, error)

    def _leave_code(self) -> None:
        # After this no interrupt is sent, and one sent but not raised yet is taken back:
        # the thread goes on to other attempts' code.
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
