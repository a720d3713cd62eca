"""Tasks the end-to-end tests import into real worker processes."""

from __future__ import annotations

import os
import signal
import time
import uuid

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
async def whoami(seconds: float = 0.0, *, on: dict[str, float] | None = None) -> str:
    """Sleep (`on` may give some workers' names their own seconds), then return the name of
    the worker that ran the job."""
    import asyncio

    name = os.environ.get("E2E_WORKER_NAME", "?")
    await asyncio.sleep((on or {}).get(name, seconds))
    return name


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


# --- tasks that keep their own record of when their code ran --------------------------------
# Each run appends "start", "tick" and "stop" lines (job id, a run id of its own, the time,
# the worker) to the file named in its arguments. "stop" is written in a `finally:`, so it is
# there unless the process running the code was killed; a killed run ends at its last line.


def _mark(path: str, what: str, run: str) -> None:
    from rota.context import current_job

    job = current_job().job_id
    worker = os.environ.get("E2E_WORKER_NAME", "?")
    with open(path, "a") as out:  # one short write on an O_APPEND file: lines never interleave
        out.write(f"{what} {job} {run} {time.time():.6f} {worker}\n")


def _span(path: str, seconds: float, step: float) -> str:
    run = uuid.uuid4().hex[:12]
    _mark(path, "start", run)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            time.sleep(step)
            _mark(path, "tick", run)
    finally:
        _mark(path, "stop", run)
    return run


@app.task(name="e2e.span")
def span(path: str, seconds: float, step: float = 0.05) -> str:
    """Run for `seconds` in steps of `step` (each a plain time.sleep), recording each step."""
    return _span(path, seconds, step)


@app.task(name="e2e.span_isolated", isolated=True)
def span_isolated(path: str, seconds: float, step: float = 0.05) -> str:
    """The same as e2e.span, in a child process."""
    return _span(path, seconds, step)


@app.task(name="e2e.span_async")
async def span_async(path: str, seconds: float, step: float = 0.05, linger: float = 0.0) -> str:
    """The same as e2e.span on the event loop; its `finally:` takes `linger` seconds to clean up."""
    import asyncio

    run = uuid.uuid4().hex[:12]
    _mark(path, "start", run)
    try:
        deadline = time.monotonic() + seconds
        while time.monotonic() < deadline:
            await asyncio.sleep(step)
            _mark(path, "tick", run)
    finally:
        if linger:
            await asyncio.sleep(linger)
        _mark(path, "stop", run)
    return run


@app.task(name="e2e.stuck")
def stuck(path: str, seconds: float) -> str:
    """Block in one C call (time.sleep) for `seconds`: nothing can stop it before it returns."""
    return _stuck(path, seconds)


def _stuck(path: str, seconds: float) -> str:
    run = uuid.uuid4().hex[:12]
    _mark(path, "start", run)
    try:
        time.sleep(seconds)
    finally:
        _mark(path, "stop", run)
    return run


@app.task(name="e2e.stuck_isolated", isolated=True)
def stuck_isolated(path: str, seconds: float) -> str:
    """The same as e2e.stuck, in a child process (which can be killed)."""
    return _stuck(path, seconds)


@app.task(name="e2e.stuck_async")
async def stuck_async(path: str, seconds: float) -> str:
    """Sleep for `seconds` on the event loop, ignoring a cancellation until the time is up."""
    import asyncio

    run = uuid.uuid4().hex[:12]
    _mark(path, "start", run)
    deadline = time.monotonic() + seconds
    try:
        while (left := deadline - time.monotonic()) > 0:
            try:
                await asyncio.sleep(left)
            except asyncio.CancelledError:
                continue
    finally:
        _mark(path, "stop", run)
    return run
