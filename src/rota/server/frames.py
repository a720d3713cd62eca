"""Checks on worker messages beyond the protocol's types: names, limits, log lines.

Values (results, resources) and texts are judged by rota.values, as everywhere else."""

from __future__ import annotations

import math
import re
from datetime import UTC, datetime
from typing import Any

from rota.errors import ProtocolError
from rota.jobs import WORKER_NAME_PATTERN, Event
from rota.safe_text import excerpt
from rota.types import JobId, LeaseToken, Payload
from rota.values import MAX_LOG_LINE_CHARS, escape_output, text_problem

WORKER_NAME = re.compile(WORKER_NAME_PATTERN)
MAX_CAPACITY = 10_000
MAX_LEASES = 100_000


def worker_details(hello: Payload) -> tuple[str, list[str], list[str], list[str], int]:
    """Return a hello's name, queues, tags, tasks and capacity, or raise ProtocolError."""
    name = hello["name"]
    if not WORKER_NAME.match(name):
        raise ProtocolError(f"worker name {excerpt(name)} must match {WORKER_NAME.pattern}")
    queues, tags, tasks = hello["queues"], hello["tags"], hello["tasks"]
    for field, values in (("queues", queues), ("tags", tags), ("tasks", tasks)):
        if not all(
            isinstance(value, str) and 0 < len(value) <= 200 and text_problem(value) is None
            for value in values
        ):
            raise ProtocolError(f"hello.{field} must be a list of short strings")
    if not queues:
        raise ProtocolError("hello.queues must name at least one queue")
    capacity = hello["capacity"]
    if not 1 <= capacity <= MAX_CAPACITY:
        raise ProtocolError(f"hello.capacity must be between 1 and {MAX_CAPACITY}")
    return name, queues, tags, tasks, capacity


def leases_of(value: list[Any]) -> list[tuple[JobId, LeaseToken]]:
    """Return the (job_id, token) pairs of a `running` list, or raise ProtocolError."""
    if len(value) > MAX_LEASES:
        raise ProtocolError("too many running jobs listed")
    leases = []
    for item in value:
        if not (
            isinstance(item, dict)
            and isinstance(item.get("job_id"), str)
            and isinstance(item.get("token"), str)
        ):
            raise ProtocolError("each running job must be a map of job_id and token")
        leases.append((item["job_id"], item["token"]))
    return leases


def unleased_of(message: Payload) -> int:
    """Return a hello's or heartbeat's `unleased` count (0 when absent), or raise
    ProtocolError: slots taken by code that is stopping after its lease was lost."""
    value = message.get("unleased", 0)
    if not isinstance(value, int) or isinstance(value, bool) or not 0 <= value <= MAX_CAPACITY:
        raise ProtocolError(f"{message['type']}.unleased must be an integer of 0 or more")
    return value


def log_event(line: Any, *, job_id: JobId, attempt: int, worker: str, now: datetime) -> Event:
    """Return the execution-log event for one line a task logged."""
    if not isinstance(line, dict) or not isinstance(line.get("message"), str):
        raise ProtocolError("each log line must be a map with a message")
    stream = line.get("stream", "log")
    text = escape_output(line["message"], MAX_LOG_LINE_CHARS)
    if stream in ("stdout", "stderr"):
        text = f"[{stream}] {text}"
    at = line.get("at")
    when = now
    if isinstance(at, int | float) and not isinstance(at, bool):
        if math.isfinite(at) and 0 <= at < 253_402_300_800:  # before the year 10000
            when = datetime.fromtimestamp(at, UTC)
    return Event(job_id=job_id, attempt=attempt, at=when, kind="log", worker=worker, message=text)


def is_number(value: Any) -> bool:
    """Tell whether the value is an int or a float (never a bool)."""
    return isinstance(value, int | float) and not isinstance(value, bool)
