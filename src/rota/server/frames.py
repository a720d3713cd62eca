"""What the server makes of a worker's messages beyond their types: the texts it stores.

Types and limits are checked once, by the codec (rota.protocol); here a task's output is
escaped and cut as rota.values says, as everywhere else, since output is never refused."""

from __future__ import annotations

import math
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rota.errors import InvalidValue
from rota.jobs import Event
from rota.protocol import LogLine
from rota.protocol.messages import CLOCK_OFFSET
from rota.types import JSON, JobId
from rota.values import MAX_LOG_LINE_CHARS, check_value, escape_output, json_size

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


MAX_RESOURCES_BYTES = 64 * 1024
"""The most a heartbeat's figures may take as compact JSON (a worker's are well under 2 KiB,
with a few GPUs): they are stored with every heartbeat, and sampled into the worker's history."""
_NUMBERS = frozenset(
    {
        "cpu_count",
        "cpu_percent",
        "memory_percent",
        "memory_used_bytes",
        "memory_total_bytes",
        "disk_percent",
        "disk_used_bytes",
        "disk_total_bytes",
        "process_cpu_percent",
        "process_rss_bytes",
        CLOCK_OFFSET,
    }
)
_GPU_NUMBERS = frozenset(
    {"index", "utilization_percent", "memory_used_bytes", "memory_total_bytes"}
)


def resources_of(reported: dict[str, Any]) -> dict[str, JSON]:
    """Return a heartbeat's figures as the server keeps them, or raise InvalidValue if they
    break the value rules or exceed MAX_RESOURCES_BYTES.

    The server (/system) and the dashboard read the figures docs/protocol.md names as
    numbers, `host` as text, `load_avg` as a list of numbers and `gpus` as a list of maps
    (each a `name` and numbers): one of another type (besides null) is left out, as is a
    GPU that is not a map, so that no reader trips on it. Other keys are kept as they are.
    """
    resources: dict[str, JSON] = check_value(reported, "resources")
    if json_size(resources) > MAX_RESOURCES_BYTES:
        raise InvalidValue(f"resources: over {MAX_RESOURCES_BYTES:,} bytes of JSON")
    kept: dict[str, JSON] = {}
    for key, value in resources.items():
        if value is None or key not in _SHAPES or _SHAPES[key](value):
            kept[key] = value
        elif key == "gpus" and type(value) is list:
            kept[key] = [_gpu(gpu) for gpu in value if type(gpu) is dict]
    return kept


def _is_number(value: JSON) -> bool:
    return type(value) is int or type(value) is float


def _is_gpu(value: JSON) -> bool:
    return type(value) is dict and value == _gpu(value)


def _gpu(gpu: dict[str, JSON]) -> dict[str, JSON]:
    return {
        key: value
        for key, value in gpu.items()
        if value is None
        or (key != "name" and key not in _GPU_NUMBERS)
        or (type(value) is str if key == "name" else _is_number(value))
    }


_SHAPES: dict[str, Callable[[JSON], bool]] = {
    **dict.fromkeys(_NUMBERS, _is_number),
    "host": lambda value: type(value) is str,
    "load_avg": lambda value: type(value) is list and all(map(_is_number, value)),
    "gpus": lambda value: type(value) is list and all(map(_is_gpu, value)),
}
