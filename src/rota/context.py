"""What a running task can reach: its job id, attempt, progress, log and cancellation."""

from __future__ import annotations

import contextvars
import math
import numbers
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from rota.errors import JobCancelled, RotaError


@dataclass(kw_only=True, slots=True)
class JobContext:
    """The job a task is running for; the worker makes one per attempt."""

    job_id: str
    task: str
    attempt: int
    max_attempts: int
    on_progress: Callable[[float | None, str | None], None]
    on_log: Callable[[str, str], None]
    cancelled: threading.Event = field(default_factory=threading.Event)
    run_at: datetime | None = None
    """When the job was due (a schedule's fire time, a reminder's moment), if known."""

    def progress(self, fraction: float | None, message: str | None = None) -> None:
        """Report how far along the job is (0..1), with an optional message.

        TypeError when `fraction` is not a real number (a bool is not one), ValueError when
        it lies outside 0..1 (NaN included); it is sent as a plain float.
        """
        if fraction is not None:
            if isinstance(fraction, bool) or not isinstance(fraction, numbers.Real):
                raise TypeError(
                    "progress: the fraction must be a number from 0 to 1, or None, "
                    f"not {type(fraction).__name__}"
                )
            try:
                fraction = float(fraction)
            except OverflowError:
                fraction = math.nan  # an int too large for a float: refused below
            if not 0.0 <= fraction <= 1.0:
                raise ValueError("progress is a fraction between 0 and 1")
        self.on_progress(fraction, message)

    def log(self, message: str, stream: str = "log") -> None:
        """Add a line to the job's execution log."""
        self.on_log(message, stream)

    def check_cancelled(self) -> None:
        """Raise JobCancelled if the job was cancelled; long sync tasks call this often."""
        if self.cancelled.is_set():
            raise JobCancelled()


_current: contextvars.ContextVar[JobContext] = contextvars.ContextVar("rota_job")


def current_job() -> JobContext:
    """Return the context of the job this code runs for (RotaError outside a task)."""
    try:
        return _current.get()
    except LookupError:
        raise RotaError("current_job() is only available inside a running task") from None


def job_or_none() -> JobContext | None:
    """Return the context of the job this code runs for, or None outside a task."""
    return _current.get(None)


def set_current_job(context: JobContext) -> contextvars.Token[JobContext]:
    """Make `context` current for this task; the worker calls it before running one."""
    return _current.set(context)


def log(message: str) -> None:
    """Add a line to the current job's execution log."""
    current_job().log(message)
