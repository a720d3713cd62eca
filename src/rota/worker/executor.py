"""Runs one job: finds its task, checks its arguments, applies the timeout, captures the outcome.

Where each kind of task runs:
- async tasks on the worker's event loop, under asyncio.timeout; a cancel cancels them.
- sync tasks in a thread pool sized to the worker's concurrency. Python cannot stop a
  thread, so a timeout fails the attempt at once and sets the job's `cancelled` flag, but
  the thread is left to finish (and holds its pool slot until it does). Long sync tasks
  should call current_job().check_cancelled() now and then; tasks that must be stoppable
  by force are declared isolated=True.
- isolated sync tasks in a child process, which is killed at the timeout or on cancel.
"""

from __future__ import annotations

import asyncio
import contextvars
import inspect
import json
from collections.abc import Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from rota.context import JobContext, set_current_job
from rota.errors import InvalidValue, ProtocolError
from rota.safe_text import describe_exception, format_traceback
from rota.tasks.registry import TaskDef, TaskRegistry
from rota.types import JSON, Payload
from rota.values import MAX_ERROR_CHARS, MAX_TRACEBACK_CHARS, check_result, safe_text
from rota.worker.isolated import ChildCall, ChildOutcome, IsolatedRun


@dataclass(frozen=True, kw_only=True, slots=True)
class JobOrder:
    """One item of a `jobs` message: an attempt this worker was asked to run."""

    job_id: str
    token: str
    task: str
    args: list[JSON]
    kwargs: dict[str, JSON]
    attempt: int
    max_attempts: int
    timeout_s: float | None
    queue: str

    @classmethod
    def from_payload(cls, item: Any) -> JobOrder:
        """Return the order an item describes, or raise ProtocolError saying what is wrong."""
        if not isinstance(item, dict):
            raise ProtocolError("a jobs item must be a map")
        try:
            order = cls(
                job_id=str(item["job_id"]),
                token=str(item["token"]),
                task=str(item["task"]),
                args=list(item.get("args") or []),
                kwargs=dict(item.get("kwargs") or {}),
                attempt=int(item.get("attempt", 1)),
                max_attempts=int(item.get("max_attempts", 1)),
                timeout_s=None if item.get("timeout_s") is None else float(item["timeout_s"]),
                queue=str(item.get("queue", "default")),
            )
        except (KeyError, TypeError, ValueError) as exc:
            raise ProtocolError(f"malformed jobs item: {exc!r}") from None
        return order

    @property
    def lease(self) -> dict[str, str]:
        """Return the {job_id, token} pair that names this attempt in the protocol."""
        return {"job_id": self.job_id, "token": self.token}


@dataclass(frozen=True, kw_only=True, slots=True)
class Outcome:
    """How an attempt ended: a JSON result, or an error (retryable or not)."""

    ok: bool
    result: JSON = None
    error: str = ""
    traceback: str | None = None
    retryable: bool = True

    @classmethod
    def failure(cls, error: str, *, retryable: bool, traceback: str | None = None) -> Outcome:
        """Return a failed outcome."""
        return cls(ok=False, error=error, traceback=traceback, retryable=retryable)

    def message(self, order: JobOrder) -> Payload:
        """Return the `result` or `failure` message reporting this outcome.

        An error's text is escaped where it cannot be encoded (an exception quoting a file
        name with a non-UTF-8 byte) and shortened, so the failure always reaches the server.
        """
        if self.ok:
            return {"type": "result", **order.lease, "result": self.result}
        return {
            "type": "failure",
            **order.lease,
            "error": safe_text(self.error, MAX_ERROR_CHARS),
            "traceback": (
                None
                if self.traceback is None
                else safe_text(self.traceback, MAX_TRACEBACK_CHARS, keep_end=True)
            ),
            "retryable": self.retryable,
        }


class Executor:
    """Runs jobs of one worker's registry; one instance per worker."""

    def __init__(
        self,
        registry: TaskRegistry,
        *,
        worker_name: str,
        concurrency: int,
        allow_shell: bool,
        imports: Sequence[str] = (),
    ) -> None:
        self._registry = registry
        self._worker_name = worker_name
        self._allow_shell = allow_shell
        self._imports = tuple(imports)
        self._threads = ThreadPoolExecutor(concurrency, thread_name_prefix="rota-task")

    def shutdown(self) -> None:
        """Stop taking work; threads still running a task are left to finish."""
        self._threads.shutdown(wait=False, cancel_futures=True)

    async def run(self, order: JobOrder, context: JobContext) -> Outcome:
        """Run one attempt and return its outcome; cancelling the caller stops the task."""
        task = self._registry.get(order.task)
        if task is None:
            return Outcome.failure(
                f"worker {self._worker_name} has no task {order.task!r}", retryable=False
            )
        if task.needs_shell and not self._allow_shell:
            return Outcome.failure(
                f"task {order.task!r} is refused: worker {self._worker_name} does not allow "
                "shell tasks; start it with --allow-shell (or ROTA_ALLOW_SHELL=true)",
                retryable=False,
            )
        try:
            inspect.signature(task.fn).bind(*order.args, **order.kwargs)
        except TypeError as exc:
            return Outcome.failure(f"TypeError: {exc}", retryable=False)
        timeout_s = order.timeout_s if order.timeout_s is not None else task.timeout_s
        reset = set_current_job(context)
        try:
            if task.is_async:
                return await self._run_async(task, order, timeout_s)
            if task.isolated:
                return await self._run_isolated(task, order, context, timeout_s)
            return await self._run_thread(task, order, context, timeout_s)
        finally:
            reset.var.reset(reset)

    async def _run_async(self, task: TaskDef, order: JobOrder, timeout_s: float | None) -> Outcome:
        try:
            async with asyncio.timeout(timeout_s) as scope:
                result = await task.fn(*order.args, **order.kwargs)
        except TimeoutError as exc:
            if scope.expired():
                return _timed_out(order, timeout_s)
            return _raised(exc)
        except Exception as exc:
            return _raised(exc)
        return _finished(result)

    async def _run_thread(
        self, task: TaskDef, order: JobOrder, context: JobContext, timeout_s: float | None
    ) -> Outcome:
        # copy_context() carries the JobContext into the thread, so current_job() works there.
        call = contextvars.copy_context().run
        future = self._threads.submit(call, task.fn, *order.args, **order.kwargs)
        try:
            async with asyncio.timeout(timeout_s) as scope:
                result = await asyncio.wrap_future(future)
        except TimeoutError as exc:
            if scope.expired():
                context.cancelled.set()
                return _timed_out(order, timeout_s)
            return _raised(exc)
        except asyncio.CancelledError:
            context.cancelled.set()
            future.cancel()
            raise
        except Exception as exc:
            return _raised(exc)
        return _finished(result)

    async def _run_isolated(
        self, task: TaskDef, order: JobOrder, context: JobContext, timeout_s: float | None
    ) -> Outcome:
        call = ChildCall(
            imports=self._imports,
            module=task.fn.__module__,
            qualname=task.fn.__qualname__,
            task=task.name,
            args_json=json.dumps(order.args),
            kwargs_json=json.dumps(order.kwargs),
            job_id=order.job_id,
            attempt=order.attempt,
            max_attempts=order.max_attempts,
        )
        child = IsolatedRun(call, context)
        future = self._threads.submit(child.run)
        try:
            async with asyncio.timeout(timeout_s) as scope:
                outcome: ChildOutcome = await asyncio.wrap_future(future)
        except TimeoutError:
            child.kill()
            if scope.expired():
                return _timed_out(order, timeout_s)
            raise
        except BaseException:
            child.kill()
            raise
        if outcome.result_json is not None:
            return _finished(json.loads(outcome.result_json))
        return Outcome.failure(
            outcome.error or "the task's process failed",
            traceback=outcome.traceback,
            retryable=outcome.retryable,
        )


def _finished(result: object) -> Outcome:
    # Tuples become lists, as the server will see them; what cannot travel fails the attempt
    # for good, since running it again would give the same result.
    try:
        return Outcome(ok=True, result=check_result(result))
    except InvalidValue as exc:
        return Outcome.failure(f"the task's result cannot be sent: {exc.message}", retryable=False)


def _raised(exc: BaseException) -> Outcome:
    return Outcome.failure(describe_exception(exc), traceback=format_traceback(exc), retryable=True)


def _timed_out(order: JobOrder, timeout_s: float | None) -> Outcome:
    return Outcome.failure(
        f"TimeoutError: task {order.task!r} did not finish within {timeout_s:g}s",
        retryable=True,
    )
