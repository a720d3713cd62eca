"""Runs one sync task in a child process, so a timeout or a cancel can kill it.

Only names and JSON cross to the child: it imports the same modules the worker imported
(the worker's --import specs and the task's own module), finds the task by name, runs it,
and sends back progress, log lines and the outcome as JSON over a pipe.
"""

from __future__ import annotations

import importlib
import json
import multiprocessing
import sys
import threading
from collections.abc import Callable
from dataclasses import dataclass
from multiprocessing.connection import Connection
from typing import Any, Final

from rota.context import JobContext, set_current_job
from rota.errors import InvalidValue, TaskNotAllowed
from rota.safe_text import describe_exception, format_traceback
from rota.tasks.registry import TaskRegistry, find_registries
from rota.values import MAX_LOG_LINE_CHARS, MAX_PROGRESS_CHARS, escape_output, result_json
from rota.worker.capture import capturing

# The child starts a fresh interpreter: nothing of the worker's state (sockets, threads,
# the event loop) leaks into it, and the same code runs on every platform.
START_METHOD: Final = "spawn"
EXIT_WAIT_S = 5.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildCall:
    """What the child needs to find and run the task: names and JSON only."""

    imports: tuple[str, ...]
    module: str
    qualname: str
    task: str
    args_json: str
    kwargs_json: str
    job_id: str
    attempt: int
    max_attempts: int


@dataclass(frozen=True, kw_only=True, slots=True)
class ChildOutcome:
    """What came back: a result (as JSON text), an error, or nothing if the child died."""

    result_json: str | None = None
    error: str | None = None
    traceback: str | None = None
    retryable: bool = True
    exit_code: int | None = None


class IsolatedRun:
    """One call in a child process; run() blocks (call it in a thread), kill() from anywhere.

    `on_started` is called (from run()'s thread) once the child is about to call the task.
    """

    def __init__(
        self,
        call: ChildCall,
        context: JobContext,
        *,
        on_started: Callable[[], None] | None = None,
    ) -> None:
        self._call = call
        self._context = context
        self._on_started = on_started
        self._lock = threading.Lock()
        self._killed = False
        self._process: multiprocessing.process.BaseProcess | None = None

    @property
    def pid(self) -> int | None:
        """Return the child's process id once it started."""
        return None if self._process is None else self._process.pid

    def kill(self) -> None:
        """Kill the child (or keep it from starting); safe to call more than once."""
        with self._lock:
            self._killed = True
            if self._process is not None and self._process.exitcode is None:
                self._process.kill()

    def run(self) -> ChildOutcome:
        """Start the child, relay its progress and log lines, and return its outcome."""
        mp = multiprocessing.get_context(START_METHOD)
        receiver, sender = mp.Pipe(duplex=False)
        process = mp.Process(
            target=child_main,
            args=(sender, self._call),
            name=f"rota-job-{self._call.job_id}",
            daemon=True,
        )
        with self._lock:
            if self._killed:
                return ChildOutcome(error="the job was stopped before its process started")
            process.start()
            self._process = process
        sender.close()  # so recv sees EOF when the child is gone
        outcome: ChildOutcome | None = None
        try:
            while outcome is None:
                try:
                    message = json.loads(receiver.recv_bytes())
                except (EOFError, OSError):
                    break
                outcome = self._handle(message)
        finally:
            receiver.close()
            process.join(EXIT_WAIT_S)
            if process.exitcode is None:
                process.kill()
                process.join()
        if outcome is None:
            return ChildOutcome(
                error=f"ChildProcessError: the task's process exited with code {process.exitcode}",
                exit_code=process.exitcode,
            )
        return outcome

    def _handle(self, message: list[Any]) -> ChildOutcome | None:
        kind = message[0]
        if kind == "started":
            if self._on_started is not None:
                self._on_started()
        elif kind == "progress":
            self._context.on_progress(message[1], message[2])
        elif kind == "log":
            self._context.on_log(message[1], message[2])
        elif kind == "result":
            return ChildOutcome(result_json=message[1])
        elif kind == "error":
            return ChildOutcome(error=message[1], traceback=message[2], retryable=message[3])
        return None


def child_main(connection: Connection, call: ChildCall) -> None:
    """Run the task in the child process and send everything back as JSON.

    What the task prints or logs, and what it passes to current_job().log, goes to the job's
    execution log as it does for a task run in the worker's own process.
    """
    send_lock = threading.Lock()

    def send(message: list[Any]) -> None:
        with send_lock:  # ASCII JSON: text UTF-8 cannot encode still crosses; the worker escapes it
            connection.send_bytes(json.dumps(message).encode())

    context = JobContext(
        job_id=call.job_id,
        task=call.task,
        attempt=call.attempt,
        max_attempts=call.max_attempts,
        on_progress=lambda fraction, text: send(
            [
                "progress",
                fraction,
                None if text is None else escape_output(text, MAX_PROGRESS_CHARS),
            ]
        ),
        on_log=lambda text, stream: send(["log", escape_output(text, MAX_LOG_LINE_CHARS), stream]),
    )
    set_current_job(context)
    with capturing():
        try:
            fn = _find_task(call)
            send(["started"])
            result = fn(*json.loads(call.args_json), **json.loads(call.kwargs_json))
        except BaseException as exc:
            retryable = not isinstance(exc, TaskNotAllowed)
            send(["error", describe_exception(exc), format_traceback(exc), retryable])
            return
        finally:
            sys.stdout.flush()  # a last line printed without a newline
            sys.stderr.flush()
    try:
        text = result_json(result).text
    except InvalidValue as exc:
        send(["error", f"the task's result cannot be sent: {exc.message}", None, False])
        return
    send(["result", text])
    connection.close()


def _find_task(call: ChildCall) -> Callable[..., Any]:
    registry = TaskRegistry()
    if call.task.startswith("rota."):
        from rota.tasks.builtin import builtin_registry

        registry.merge(builtin_registry())
    for spec in (*call.imports, call.module):
        for found in find_registries(spec):
            for candidate in found:
                if candidate.name not in registry:
                    registry.add(candidate)
    task = registry.get(call.task)
    if task is not None:
        return task.fn
    # A task on a registry its module does not expose: find the function by its own name.
    target: Any = importlib.import_module(call.module)
    for part in call.qualname.split("."):
        target = getattr(target, part, None)
    if callable(target):
        return target  # type: ignore[no-any-return]
    raise LookupError(f"the task's process cannot find task {call.task!r} in {call.module!r}")
