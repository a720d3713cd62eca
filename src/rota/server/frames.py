"""What the server makes of a worker's messages beyond their types: the texts it stores.

Types and limits are checked once, by the codec (rota.protocol); here a task's output is
escaped and cut as rota.values says, as everywhere else, since output is never refused."""

from __future__ import annotations

import math
from datetime import UTC, datetime

from rota.jobs import Event
from rota.protocol import LogLine
from rota.types import JobId
from rota.values import MAX_LOG_LINE_CHARS, escape_output

STREAMS = frozenset({"stdout", "stderr"})
LATEST_AT = 253_402_300_800
"""Seconds since the epoch of the year 10000: a later `at` is not a time."""


def log_event(line: LogLine, *, job_id: JobId, attempt: int, worker: str, now: datetime) -> Event:
    """Return the execution-log event for one line a task logged (at `now` if its own time
    is not a time)."""
    text = escape_output(line.message, MAX_LOG_LINE_CHARS)
    if line.stream in STREAMS:
        text = f"[{line.stream}] {text}"
    when = now
    if math.isfinite(line.at) and 0 <= line.at < LATEST_AT:
        when = datetime.fromtimestamp(line.at, UTC)
    return Event(job_id=job_id, attempt=attempt, at=when, kind="log", worker=worker, message=text)


def progress_fraction(progress: float | None) -> float | None:
    """Return a reported progress within 0..1 (nil stays nil; NaN counts as nil)."""
    if progress is None or math.isnan(progress):
        return None
    return min(1.0, max(0.0, progress))
