"""Timeouts, isolated child processes and drain, through a worker and the fake server."""

from __future__ import annotations

import asyncio
import os
from collections.abc import Callable

import psutil
import worker_sample_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

Start = Callable[..., WorkerRun]


def _registry() -> object:
    return make_registry(worker_sample_tasks.registry)


async def _child_pid(server: FakeServer, job_id: str) -> int:
    log = await server.wait_message("log", job_id)
    message: str = log["lines"][0]["message"]
    return int(message.removeprefix("pid "))


async def test_async_task_times_out(server: FakeServer, start_worker: Start) -> None:
    start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 30, timeout_s=0.1))
    failure = await server.wait_message("failure", "j1")
    assert failure["error"] == "TimeoutError: task 't.slow_async' did not finish within 0.1s"
    assert failure["retryable"] is True


async def test_a_sync_task_past_its_timeout_is_reported_once_its_thread_stopped(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(_registry())
    await server.wait_connected()
    # One 0.5 s sleep: the interrupt lands when it returns, and only then does the job end.
    await server.push_jobs(job("j1", "t.chunked", "timeout", 30, step=0.5, timeout_s=0.05))
    stopping = await server.wait_message("stopping", "j1")
    assert "did not finish within 0.05s" in stopping["message"]
    assert "timeout" not in worker_sample_tasks.STOPPED
    failure = await server.wait_message("failure", "j1")
    assert "timeout" in worker_sample_tasks.STOPPED, "reported before the thread stopped"
    assert failure["error"] == "TimeoutError: task 't.chunked' did not finish within 0.05s"
    assert not server.of_type("result", "j1")


async def test_isolated_task_runs_in_a_child_and_relays_progress(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.isolated_add", 2, b=40))
    result = (await server.wait_message("result", "j1"))["result"]
    assert result["sum"] == 42 and result["pid"] != os.getpid()
    assert server.of_type("progress", "j1")[0]["message"] == "half way"
    assert server.of_type("log", "j1")[0]["lines"][0]["message"] == "adding"
    await server.push_jobs(job("j2", "t.isolated_boom"))
    failure = await server.wait_message("failure", "j2")
    assert failure["error"] == "KeyError: 'missing'" and "KeyError" in failure["traceback"]


async def test_isolated_task_is_killed_at_the_timeout(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.isolated_sleep", 30, timeout_s=2))
    pid = await _child_pid(server, "j1")
    assert psutil.pid_exists(pid)
    failure = await server.wait_message("failure", "j1")
    assert failure["error"].startswith("TimeoutError")
    await server.wait_for(lambda: not psutil.pid_exists(pid), what=f"pid {pid} gone")


async def test_cancel_kills_an_isolated_child(server: FakeServer, start_worker: Start) -> None:
    run = start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.isolated_sleep", 30))
    pid = await _child_pid(server, "j1")
    await server.send({"type": "cancel", "job_id": "j1", "reason": "user"})
    await server.wait_for(lambda: not psutil.pid_exists(pid), what=f"pid {pid} gone")
    assert run.worker.running == []
    assert not server.of_type("failure", "j1") and not server.of_type("result", "j1")


async def test_drain_lets_running_jobs_finish(server: FakeServer, start_worker: Start) -> None:
    server.heartbeat_s = 0.05
    run = start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 0.3))
    await server.wait_for(lambda: run.worker.running == ["j1"])
    await server.send({"type": "drain"})
    await server.wait_message("drain")
    await server.wait_for(
        lambda: [m for m in server.of_type("heartbeat") if m["state"] == "draining"]
    )
    await server.push_jobs(job("j2", "t.add", 1, 2))  # too late: handed back
    await server.wait_message("release", "j2")
    assert await run.finish() is True
    assert server.of_type("result", "j1")[0]["result"] == "slept"
    assert not server.of_type("result", "j2")


async def test_drain_releases_what_outlives_the_grace(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), drain_grace_s=0.2)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 30), job("j2", "t.add", 1, 1))
    await server.wait_message("result", "j2")
    run.worker.request_drain()
    assert await run.finish() is True
    assert server.of_type("release", "j1") == [
        {"type": "release", "job_id": "j1", "token": "token-j1"}
    ]
    assert not server.of_type("result", "j1")


async def test_drain_waits_for_acks_before_returning(
    server: FakeServer, start_worker: Start
) -> None:
    server.auto_ack = False
    run = start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.add", 1, 1))
    await server.wait_message("result", "j1")
    run.worker.request_drain()
    await asyncio.sleep(0.2)
    assert not run.task.done()  # the result is not acked yet
    await server.send({"type": "ack", "job_id": "j1", "ok": True})
    assert await run.finish() is True


async def test_stop_during_a_drain_releases_at_once(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), drain_grace_s=60)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 60))
    await server.wait_for(lambda: run.worker.running == ["j1"])
    run.worker.request_drain()
    await server.wait_message("drain")
    run.worker.request_stop()
    assert await run.finish() is False  # stopped, not drained
    await server.wait_message("release", "j1")
    assert not server.of_type("result", "j1")
