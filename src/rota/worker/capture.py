"""Capture what a task prints and logs into its job's execution log.

While a task runs, the job's context is current (a context variable, copied into the
thread a sync task runs in). A logging handler on the root logger and wrappers around
sys.stdout and sys.stderr look it up on every record and write: inside a job, the line
goes to that job's log (stream "log", "stdout" or "stderr"); outside one, output goes to
the real stream as before and log records are left to the other handlers.
"""

from __future__ import annotations

import contextlib
import io
import logging
import sys
import threading
from collections.abc import Iterator
from typing import TextIO

from rota.context import JobContext, job_or_none

# The worker's own records describe the job from outside; they are not the task's lines.
_OWN_LOGGERS = ("rota.worker", "asyncio", "websockets")
_MAX_PENDING_CHARS = 64 * 1024


class JobLogHandler(logging.Handler):
    """Send records emitted inside a task to the job's execution log."""

    def __init__(self, level: int = logging.INFO) -> None:
        super().__init__(level)
        self.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))

    def emit(self, record: logging.LogRecord) -> None:
        """Log the record to the current job, if any."""
        context = job_or_none()
        if context is None or record.name.startswith(_OWN_LOGGERS):
            return
        try:
            context.log(self.format(record), "log")
        except Exception:
            self.handleError(record)


class JobStream(io.TextIOBase):
    """A text stream that writes whole lines to the current job's log, else to `real`."""

    def __init__(self, real: TextIO, name: str) -> None:
        super().__init__()
        self.real = real
        self.stream_name = name
        self._lock = threading.Lock()
        # Partial lines per job: tasks on several threads may print at once.
        self._pending: dict[str, tuple[JobContext, str]] = {}

    def writable(self) -> bool:
        return True

    @property
    def encoding(self) -> str:  # type: ignore[override]
        return getattr(self.real, "encoding", "utf-8")

    def isatty(self) -> bool:
        return False

    def fileno(self) -> int:
        return self.real.fileno()

    def write(self, text: str) -> int:
        """Write text: whole lines to the current job's log, the rest held until a newline."""
        context = job_or_none()
        if context is None:
            return self.real.write(text)
        with self._lock:
            _, held = self._pending.pop(context.job_id, (context, ""))
            lines = (held + text).split("\n")
            rest = lines.pop()
            if len(rest) > _MAX_PENDING_CHARS:
                lines.append(rest)
                rest = ""
            if rest:
                self._pending[context.job_id] = (context, rest)
        for line in lines:
            context.log(line, self.stream_name)
        return len(text)

    def flush(self) -> None:
        """Flush the real stream, and the current job's unfinished line."""
        context = job_or_none()
        if context is not None:
            with self._lock:
                held = self._pending.pop(context.job_id, None)
            if held is not None:
                context.log(held[1], self.stream_name)
        with contextlib.suppress(Exception):
            self.real.flush()


@contextlib.contextmanager
def capturing(level: int = logging.INFO) -> Iterator[None]:
    """Route task output and task logging to the jobs' logs for the duration of the block."""
    handler = JobLogHandler(level)
    root = logging.getLogger()
    old_level = root.level
    root.addHandler(handler)
    if root.level == logging.NOTSET or root.level > level:
        root.setLevel(level)
    stdout, stderr = sys.stdout, sys.stderr
    sys.stdout = JobStream(stdout, "stdout")
    sys.stderr = JobStream(stderr, "stderr")
    try:
        yield
    finally:
        sys.stdout, sys.stderr = stdout, stderr
        root.removeHandler(handler)
        root.setLevel(old_level)
