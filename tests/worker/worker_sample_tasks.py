"""Tasks the worker tests run; importable by name so isolated children find them too."""

from __future__ import annotations

import asyncio
import logging
import os
import sys
import time
from collections.abc import Callable
from typing import Any

from rota.context import current_job
from rota.tasks.registry import TaskDef, TaskRegistry


def add(a: int, b: int) -> int:
    return a + b


async def async_add(a: int, b: int) -> int:
    await asyncio.sleep(0)
    return a + b


def boom(message: str = "boom") -> None:
    raise ValueError(message)


async def slow_async(seconds: float) -> str:
    await asyncio.sleep(seconds)
    return "slept"


def cooperative(seconds: float) -> str:
    """Wait, checking for cancellation, the way long sync tasks should."""
    job = current_job()
    job.log("started")
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        job.check_cancelled()
        job.cancelled.wait(0.01)
    return "done"


def stubborn(seconds: float) -> str:
    """Ignore cancellation entirely (a thread cannot be stopped)."""
    time.sleep(seconds)
    return "stubborn"


def isolated_sleep(seconds: float) -> str:
    current_job().log(f"pid {os.getpid()}")
    time.sleep(seconds)
    return "woke"


def isolated_add(a: int, b: int) -> dict[str, int]:
    current_job().progress(0.5, "half way")
    current_job().log("adding")
    return {"sum": a + b, "pid": os.getpid()}


def isolated_spin(seconds: float) -> str:
    """Keep one core busy in the isolated child for `seconds`."""
    end = time.monotonic() + seconds
    while time.monotonic() < end:
        pass
    return "spun"


def isolated_boom() -> None:
    raise KeyError("missing")


def chatty() -> str:
    job = current_job()
    job.progress(0.25, "a quarter")
    job.log("first line")
    job.log("second line", "stderr")
    return "chatted"


def progress_flood(reports: int) -> str:
    job = current_job()
    for index in range(reports):
        job.progress(index / reports, f"step {index}")
    job.progress(1.0, "all done")
    return "flooded"


def not_json() -> object:
    return object()


UNDECODABLE_NAME = b"caf\xe9.txt"
"""A file name in Latin-1: os.fsdecode turns its \\xe9 into the lone surrogate \\udce9."""


def surrogate_result() -> list[str]:
    return [os.fsdecode(UNDECODABLE_NAME)]


async def async_surrogate_result() -> dict[str, str]:
    return {"name": os.fsdecode(UNDECODABLE_NAME)}


def isolated_surrogate_result() -> str:
    return os.fsdecode(UNDECODABLE_NAME)


def surrogate_error() -> None:
    raise FileNotFoundError(f"no such file: {os.fsdecode(UNDECODABLE_NAME)}")


def unencodable_output() -> str:
    """Print, log and report text that UTF-8 cannot encode; it must arrive escaped."""
    name = os.fsdecode(UNDECODABLE_NAME)
    print(f"printed {name}")
    logging.getLogger("user.code").warning("logged %s", name)
    current_job().log(f"job.log {name}\x00")
    current_job().progress(0.5, f"progress {name}")
    return "done"


def isolated_output() -> str:
    """Print, log and job.log from a child process."""
    print("printed in the child")
    print("to stderr", file=sys.stderr)
    logging.getLogger("user.code").warning("logged in the child")
    current_job().log("job.log in the child")
    print(f"odd {os.fsdecode(UNDECODABLE_NAME)}", end="")  # no newline: flushed at the end
    return "done"


STARTED: dict[str, float] = {}
"""When each `chunked`, `careless` or `swallower` run began, by key (time.monotonic())."""
STOPPED: dict[str, float] = {}
"""When each `chunked`, `careless` or `swallower` run left its code, by key."""


def chunked(key: str, seconds: float, step: float = 0.05) -> str:
    """Sleep in steps of plain time.sleep, recording in STARTED and STOPPED when it begins
    and when it leaves its code."""
    STARTED[key] = time.monotonic()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(step)
        return "done"
    finally:
        STOPPED[key] = time.monotonic()


def careless(key: str, seconds: float) -> str:
    """Catch every Exception, as careless code does: an interrupt must still stop it."""
    STARTED[key] = time.monotonic()
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            try:
                time.sleep(0.01)
            except Exception:
                pass
        return "done"
    finally:
        STOPPED[key] = time.monotonic()


def swallower(key: str, seconds: float) -> str:
    """Swallow even interrupts until `seconds` have passed."""
    STARTED[key] = time.monotonic()
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        try:
            time.sleep(0.01)
        except BaseException:
            pass
    STOPPED[key] = time.monotonic()
    return "swallowed"


async def async_stubborn(seconds: float) -> str:
    """Ignore cancellation until `seconds` have passed."""
    deadline = time.monotonic() + seconds
    while (left := deadline - time.monotonic()) > 0:
        try:
            await asyncio.sleep(left)
        except asyncio.CancelledError:
            continue
    return "stubborn"


def began() -> float:
    """Return the moment the body began, in seconds since the epoch."""
    return time.time()


registry = TaskRegistry()
_IN_PROCESS: list[Callable[..., Any]] = [
    began,
    add,
    async_add,
    boom,
    slow_async,
    cooperative,
    stubborn,
    chatty,
    progress_flood,
    not_json,
    surrogate_result,
    async_surrogate_result,
    surrogate_error,
    unencodable_output,
    chunked,
    careless,
    swallower,
    async_stubborn,
]
_ISOLATED: list[Callable[..., Any]] = [
    isolated_sleep,
    isolated_add,
    isolated_boom,
    isolated_surrogate_result,
    isolated_output,
    isolated_spin,
]
for fn in _IN_PROCESS:
    registry.add(TaskDef(name=f"t.{fn.__name__}", fn=fn))
for fn in _ISOLATED:
    registry.add(TaskDef(name=f"t.{fn.__name__}", fn=fn, isolated=True))
