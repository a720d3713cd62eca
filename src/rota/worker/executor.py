"""Runs one job: finds its task, checks its arguments, applies the timeout, captures the outcome.

An attempt is over only when its code has stopped (worker/code.py says where each kind of
code runs and how it is stopped). Its timeout counts from the moment its code starts.
When the timeout passes, or the attempt is asked to stop (a cancel, a drain), its code is
interrupted, and interrupted again each time it outlives the stop grace; the attempt keeps
its slot until the code has really stopped, and only then reports its outcome.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import inspect
import json
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from rota.context import JobContext, set_current_job
from rota.errors import InvalidValue, TaskNotAllowed
from rota.jobs import Lease
from rota.protocol import Failure, JobOrder, Result
from rota.safe_text import describe_exception, format_traceback
from rota.tasks.hosts import HostAllowlist, set_allowed_hosts
from rota.tasks.registry import TaskDef, TaskRegistry
from rota.types import JSON
from rota.values import (
    MAX_ERROR_CHARS,
    MAX_TRACEBACK_CHARS,
    JsonText,
    escape_output,
    result_json,
)
from rota.worker.code import AsyncCode, Code, LoopCalls, ThreadCode, Threads
from rota.worker.isolated import ChildCall, ChildOutcome, IsolatedRun

STOP_GRACE_S = 10.0
"""How long code asked to stop may take before it is reported and interrupted again."""


def _ignore(message: str) -> None:
    """Hear nothing."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How an attempt ended: a result (checked and encoded once, as JSON text), or an error
    (retryable or not)."""

    ok: bool
    result_json: JsonText | None = None
    error: str = ""
    traceback: str | None = None
    retryable: bool = True

    @classmethod
    def failure(cls, error: str, *, retryable: bool, traceback: str | None = None) -> Outcome:
        """Return a failed outcome."""
        return cls(ok=False, error=error, traceback=traceback, retryable=retryable)

    @property
    def result(self) -> JSON:
        """Return the result as a value (None for a failure), decoded from its JSON text."""
        return None if self.result_json is None else json.loads(self.result_json.text)

    @classmethod
    def success(cls, result: object) -> Outcome:
        """Return the outcome of code that returned `result`: the result checked and encoded
        once (rota.values), or, if it cannot travel, a failure for good, since running the
        code again would give the same result."""
        try:
            return cls(ok=True, result_json=result_json(result))
        except InvalidValue as exc:
            return cls.failure(f"the task's result cannot be sent: {exc.message}", retryable=False)

    def message(self, lease: Lease) -> Result | Failure:
        """Return the `result` or `failure` message reporting this outcome.

        An error's text is escaped where it cannot be encoded (an exception quoting a file
        name with a non-UTF-8 byte) and shortened, so the failure always reaches the server.
        """
        if self.ok:
            text = "null" if self.result_json is None else self.result_json.text
            return Result(job_id=lease.job_id, token=lease.token, result_json=text)
        return Failure(
            job_id=lease.job_id,
            token=lease.token,
            error=escape_output(self.error, MAX_ERROR_CHARS),
            traceback=(
                None
                if self.traceback is None
                else escape_output(self.traceback, MAX_TRACEBACK_CHARS, keep_end=True)
            ),
            retryable=self.retryable,
        )


class Executor:
    """Prepares attempts of jobs from one worker's registry; one instance per worker."""

    def __init__(
        self,
        registry: TaskRegistry,
        *,
        worker_name: str,
        allow_shell: bool,
        allow_http: HostAllowlist = HostAllowlist(),
        imports: Sequence[str] = (),
        stop_grace_s: float = STOP_GRACE_S,
    ) -> None:
        """`allow_shell` lets rota.shell and rota.crash run; `allow_http` names the hosts
        rota.http may call (none: it is refused)."""
        self._registry = registry
        self._worker_name = worker_name
        self._allow_shell = allow_shell
        self._allow_http = allow_http
        self._imports = tuple(imports)
        self._stop_grace_s = stop_grace_s
        self._threads = Threads()
        self._calls: LoopCalls | None = None
        self._signatures: dict[Callable[..., Any], inspect.Signature] = {}

    def attempt(
        self,
        order: JobOrder,
        context: JobContext,
        *,
        on_stopping: Callable[[str], None] = _ignore,
    ) -> Attempt:
        """Return the attempt of an order, its code not started yet (see Attempt.run).

        `on_stopping` hears, in words, when the attempt itself asks its code to stop (the
        timeout passed) and each time that code has not stopped within the stop grace.
        """
        task = self._registry.get(order.task)
        if task is None:
            return Attempt.refused(
                f"worker {self._worker_name} has no task {order.task!r}", context=context
            )
        if task.needs_shell and not self._allow_shell:
            return Attempt.refused(
                f"task {order.task!r} is refused: worker {self._worker_name} does not allow "
                "shell tasks; start it with --allow-shell (or ROTA_ALLOW_SHELL=true)",
                context=context,
            )
        if task.needs_http and not self._allow_http:
            return Attempt.refused(
                f"task {order.task!r} is refused: worker {self._worker_name} allows no HTTP "
                "hosts; start it with --allow-http HOSTS (or ROTA_ALLOW_HTTP=HOSTS), a comma "
                "list of host names or *.domain patterns",
                context=context,
            )
        signature = self._signatures.get(task.fn)
        if signature is None:
            signature = self._signatures[task.fn] = inspect.signature(task.fn)
        try:
            signature.bind(*order.args, **order.kwargs)
        except TypeError as exc:
            return Attempt.refused(f"TypeError: {exc}", context=context)
        reset = set_current_job(context)
        hosts = set_allowed_hosts(self._allow_http)  # the code keeps a copy of this context
        try:
            code, finish = self._code(task, order, context)
        finally:
            hosts.var.reset(hosts)
            reset.var.reset(reset)
        return Attempt(
            code,
            finish,
            order=order,
            context=context,
            timeout_s=order.timeout_s if order.timeout_s is not None else task.timeout_s,
            stop_grace_s=self._stop_grace_s,
            on_stopping=on_stopping,
        )

    def _code(
        self, task: TaskDef, order: JobOrder, context: JobContext
    ) -> tuple[Code, Callable[[Any], Outcome]]:
        name = f"rota-job {order.job_id}"
        if task.is_async:
            return AsyncCode(lambda: task.fn(*order.args, **order.kwargs), name=name), _finished
        if not task.isolated:
            call = functools.partial(task.fn, *order.args, **order.kwargs)
            code = ThreadCode(call, name=name, threads=self._threads, calls=self._loop_calls())
            return code, _finished
        child = IsolatedRun(
            ChildCall(
                imports=self._imports,
                module=task.fn.__module__,
                qualname=task.fn.__qualname__,
                task=task.name,
                args_json=json.dumps(order.args),
                kwargs_json=json.dumps(order.kwargs),
                job_id=order.job_id,
                attempt=order.attempt,
                max_attempts=order.max_attempts,
            ),
            context,
            on_started=lambda: code.mark_started(),
        )
        code = ThreadCode(
            child.run,
            name=name,
            interrupt=child.kill,
            threads=self._threads,
            calls=self._loop_calls(),
        )
        return code, _from_child

    def _loop_calls(self) -> LoopCalls:
        """Return the calls to this worker's event loop from its tasks' threads."""
        loop = asyncio.get_running_loop()
        if self._calls is None or self._calls.loop is not loop:
            self._calls = LoopCalls(loop)
        return self._calls


class Attempt:
    """One attempt of a job: its code from its start until it has really stopped.

    The timeout counts from the moment the code starts. Asked to stop (by the timeout or by
    stop()), the code is interrupted, and again after each stop grace it outlives; run()
    returns only once it has stopped, so the attempt holds its slot until then.
    """

    def __init__(
        self,
        code: Code | None,
        finish: Callable[[Any], Outcome],
        *,
        order: JobOrder | None = None,
        context: JobContext,
        timeout_s: float | None = None,
        stop_grace_s: float = STOP_GRACE_S,
        on_stopping: Callable[[str], None] = _ignore,
        refused: Outcome | None = None,
    ) -> None:
        self._code = code
        self._finish = finish
        self._order = order
        self._context = context
        self._timeout_s = timeout_s
        self._stop_grace_s = stop_grace_s
        self._on_stopping = on_stopping
        self._refused = refused
        self._stop_reason: str | None = None
        self._stop_requested = asyncio.Event()
        self._started = False
        self.stuck = False
        """Whether the code, asked to stop, outlived a stop grace."""

    @classmethod
    def refused(cls, error: str, *, context: JobContext) -> Attempt:
        """Return an attempt that runs no code and fails at once, for good."""
        outcome = Outcome.failure(error, retryable=False)
        return cls(None, _finished, context=context, refused=outcome)

    @property
    def stop_reason(self) -> str | None:
        """Return why the code was asked to stop, or None if it was not."""
        return self._stop_reason

    def stop(self, reason: str) -> None:
        """Ask the code to stop (once; later calls change nothing); run() returns once it has.

        A code that has not started yet never starts.
        """
        if self._stop_reason is not None:
            return
        self._stop_reason = reason
        self._context.cancelled.set()  # what cooperative tasks check
        self._stop_requested.set()
        if self._code is not None and self._started:
            self._code.interrupt()

    async def hold(self, seconds: float) -> bool:
        """Wait up to `seconds` before the code starts; return False at once if the attempt
        is asked to stop meanwhile (run() then starts nothing)."""
        if self._stop_reason is not None:
            return False
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(max(0.0, seconds)):
                await self._stop_requested.wait()
        return self._stop_reason is None

    async def hold_until(self, waiting: asyncio.Future[Any]) -> bool:
        """Wait, before the code starts, until `waiting` is done; return False at once if
        the attempt is asked to stop meanwhile (run() then starts nothing). `waiting` is
        neither awaited for its result nor cancelled here."""
        if self._stop_reason is not None:
            return False
        stop = asyncio.ensure_future(self._stop_requested.wait())
        try:
            await asyncio.wait([waiting, stop], return_when=asyncio.FIRST_COMPLETED)
        finally:
            stop.cancel()
        return self._stop_reason is None

    async def run(self) -> Outcome:
        """Start the code and return its outcome once it has stopped."""
        if self._code is None:
            return self._refused or Outcome.failure("nothing to run", retryable=False)
        if self._stop_reason is not None:
            reason = self._stop_reason
            return Outcome.failure(f"stopped before it started: {reason}", retryable=True)
        code = self._code
        self._started = True
        code.start()
        ended = asyncio.ensure_future(code.wait())
        try:
            timed_out = await self._run_until_told(code, ended)
            while not ended.done():
                await self._wait_for_stop(code, ended)
        finally:
            ended.cancel()  # only the waiting: the code itself is not touched
        if timed_out and self._order is not None:
            return _timed_out(self._order, self._timeout_s)
        try:
            value = ended.result()
        except BaseException as exc:  # the task's own exception, whatever its kind
            return _raised(exc)
        return self._finish(value)

    async def _run_until_told(self, code: Code, ended: asyncio.Future[Any]) -> bool:
        """Wait until the code ends or is asked to stop; return True if it timed out."""
        told = asyncio.ensure_future(self._stop_requested.wait())
        started = asyncio.ensure_future(code.started.wait())
        try:
            await asyncio.wait([ended, told, started], return_when=asyncio.FIRST_COMPLETED)
            if ended.done() or told.done():
                return False
            # The timeout counts from the start of the task's code, not from the hand-over.
            done, _ = await asyncio.wait(
                [ended, told], timeout=self._timeout_s, return_when=asyncio.FIRST_COMPLETED
            )
            if done:
                return False
            self.stop(f"it did not finish within its timeout of {self._timeout_s:g}s")
            self._on_stopping(
                f"the task did not finish within {self._timeout_s:g}s; stopping its code"
            )
            return True
        finally:
            told.cancel()
            started.cancel()

    async def _wait_for_stop(self, code: Code, ended: asyncio.Future[Any]) -> None:
        done, _ = await asyncio.wait([ended], timeout=self._stop_grace_s)
        if done:
            return
        if not self.stuck:  # said once: the job's log is not filled with the same line
            self.stuck = True
            self._on_stopping(
                f"its code did not stop within {self._stop_grace_s:g}s of being asked to "
                f"({self._stop_reason}); its slot stays taken until it does"
            )
        code.interrupt()  # asked again after each grace, for code that swallowed a request


def _finished(result: object) -> Outcome:
    return Outcome.success(result)


def _raised(exc: BaseException) -> Outcome:
    retryable = not isinstance(exc, TaskNotAllowed)  # asked again, it would be refused again
    return Outcome.failure(
        describe_exception(exc), traceback=format_traceback(exc), retryable=retryable
    )


def _from_child(outcome: ChildOutcome) -> Outcome:
    if outcome.result_json is not None:  # checked and encoded in the child (rota.values)
        return Outcome(ok=True, result_json=JsonText(outcome.result_json))
    return Outcome.failure(
        outcome.error or "the task's process failed",
        traceback=outcome.traceback,
        retryable=outcome.retryable,
    )


def _timed_out(order: JobOrder, timeout_s: float | None) -> Outcome:
    return Outcome.failure(
        f"TimeoutError: task {order.task!r} did not finish within {timeout_s:g}s",
        retryable=True,
    )
