"""Tasks the end-to-end tests import into real worker processes."""

from __future__ import annotations

import os
import signal
import time

import rota

app = rota.Rota()


@app.task(name="e2e.add")
def add(a: int, b: int) -> int:
    return a + b


@app.task(name="e2e.started_at")
def started_at() -> float:
    """Return the moment the task body began, as epoch seconds."""
    return time.time()


@app.task(name="e2e.whoami")
async def whoami(seconds: float = 0.0) -> str:
    """Sleep, then return the name of the worker that ran the job."""
    import asyncio

    await asyncio.sleep(seconds)
    return os.environ.get("E2E_WORKER_NAME", "?")


@app.task(name="e2e.boom")
def boom(message: str) -> None:
    raise ValueError(message)


@app.task(name="e2e.kill_worker")
def kill_worker() -> None:
    """Take the whole worker process down, as a segfault would."""
    os.kill(os.getpid(), signal.SIGKILL)


@app.task(name="e2e.record")
def record(value: int, seconds: float = 0.0) -> int:
    """Append this execution's job id, start, end and worker to E2E_RECORD_FILE; return value.

    The file shows every run of every job, so a test can check that no job ran twice at once.
    """
    from rota.context import current_job

    begun = time.time()
    time.sleep(seconds)
    line = f"{current_job().job_id} {begun:.6f} {time.time():.6f} {os.environ['E2E_WORKER_NAME']}\n"
    with open(os.environ["E2E_RECORD_FILE"], "a") as out:
        out.write(line)  # one short write on an O_APPEND file: lines never interleave
    return value


@app.task(name="e2e.undecodable_name")
def undecodable_name() -> str:
    """Return what os.fsdecode makes of a Latin-1 file name: a lone surrogate inside."""
    return os.fsdecode(b"caf\xe9.txt")


@app.periodic(interval=3600, name="e2e-hourly", paused=True)
def hourly() -> str:
    """Declared in code: every worker importing this module registers the schedule (paused,
    so that it never fires during other tests)."""
    return "hourly"
