"""An app for the eager-mode and fixture tests."""

from __future__ import annotations

import asyncio
import time

from rota import Rota, current_job, log

app = Rota("http://127.0.0.1:9")  # nothing listens there: only test modes reach the tasks

calls: list[str] = []


@app.task
def add(x: int, y: int) -> int:
    return x + y


@app.task(max_attempts=3)
def flaky(fail_times: int) -> int:
    attempt = current_job().attempt
    calls.append(f"flaky {attempt}")
    if attempt <= fail_times:
        raise ConnectionError(f"attempt {attempt} failed")
    log(f"attempt {attempt} worked")
    return attempt


@app.task
async def greet(name: str) -> str:
    await asyncio.sleep(0)
    return f"Hello, {name}!"


@app.task(max_attempts=2, timeout=0.2)
def slow() -> None:
    time.sleep(0.6)  # a thread cannot be killed: the attempt ends when this returns


@app.task
def pair() -> tuple[int, int]:
    return (1, 2)


@app.task
def unsendable() -> object:
    return {1, 2}


@app.task
def progress() -> str:
    current_job().progress(0.5, "half way")
    return "done"
