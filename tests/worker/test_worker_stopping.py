"""A worker never lets a job's code run twice at once, nor a slot count free while code runs
in it: cancels, lost leases, timeouts and drains wait for the code to stop."""

from __future__ import annotations

from collections.abc import Callable

import worker_sample_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

from rota.tasks.registry import TaskRegistry

Start = Callable[..., WorkerRun]
STARTED = worker_sample_tasks.STARTED
STOPPED = worker_sample_tasks.STOPPED


def _registry() -> TaskRegistry:
    return make_registry(worker_sample_tasks.registry)


async def _started(server: FakeServer, key: str) -> None:
    """Wait until the task's own code runs (an attempt stopped before that never runs it)."""
    await server.wait_for(lambda: key in STARTED, what=f"{key} to start")


def _beats_naming(server: FakeServer, job_id: str) -> int:
    return sum(
        1
        for m in server.of_type("heartbeat")
        if any(lease["job_id"] == job_id for lease in m["running"])
    )


async def test_a_cancelled_sync_job_is_interrupted_and_released_after_its_code_stopped(
    server: FakeServer, start_worker: Start
) -> None:
    server.heartbeat_s = 0.05
    run = start_worker(_registry(), concurrency=1)
    await server.wait_connected()
    # Each step is one 0.4 s C call: the interrupt lands when the current one returns.
    await server.push_jobs(job("j1", "t.chunked", "cancelled", 30, step=0.4))
    await _started(server, "cancelled")
    await server.send({"type": "cancel", "job_id": "j1", "reason": "by request"})
    beats = _beats_naming(server, "j1")
    await server.push_jobs(job("j2", "t.add", 1, 2))  # the slot is still taken
    assert (await server.wait_message("release", "j2"))["token"] == "token-j2"
    release = await server.wait_message("release", "j1")
    assert "cancelled" in STOPPED, "released before the thread stopped"
    assert release == {"type": "release", "job_id": "j1", "token": "token-j1"}
    assert _beats_naming(server, "j1") > beats, "a stopping job's lease must be kept"
    assert not server.of_type("result", "j1") and not server.of_type("failure", "j1")
    assert run.worker.running == [] and run.worker.busy == 0
    await server.push_jobs(job("j3", "t.add", 2, 2))
    assert (await server.wait_message("result", "j3"))["result"] == 4


async def test_except_exception_does_not_swallow_the_interrupt(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(_registry())
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.careless", "careless", 30))
    await _started(server, "careless")
    await server.send({"type": "cancel", "job_id": "j1", "reason": "by request"})
    await server.wait_message("release", "j1")
    assert "careless" in STOPPED


async def test_a_lost_lease_keeps_its_slot_as_unleased_until_the_code_stopped(
    server: FakeServer, start_worker: Start
) -> None:
    server.heartbeat_s = 0.05
    start_worker(_registry(), concurrency=2)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.chunked", "lost", 30, step=0.4))
    await _started(server, "lost")
    await server.send({"type": "leases", "stale": ["j1"]})
    unleased = await server.wait_for(
        lambda: [m for m in server.of_type("heartbeat") if m["unleased"] == 1 and not m["running"]]
    )
    assert unleased and "lost" not in STOPPED
    # A new attempt of the same job waits for the old code before its own starts.
    await server.push_jobs({**job("j1", "t.chunked", "again", 0.1), "token": "token-j1-2"})
    result = await server.wait_message("result", "j1")
    assert result["token"] == "token-j1-2"
    assert STOPPED["lost"] <= STARTED["again"], "two attempts of j1 overlapped"
    await server.wait_for(lambda: server.of_type("heartbeat")[-1]["unleased"] == 0)
    assert not server.of_type("release", "j1") and not server.of_type("failure", "j1")


async def test_the_timeout_counts_from_the_start_of_the_code(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(_registry(), concurrency=2)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.chunked", "first", 30, step=1.0))
    await _started(server, "first")
    await server.send({"type": "leases", "stale": ["j1"]})
    # The new attempt waits for the old code (inside a 1 s sleep), far past its own timeout.
    second = {**job("j1", "t.chunked", "second", 0.05, timeout_s=0.25), "token": "t2"}
    await server.push_jobs(second)
    result = await server.wait_message("result", "j1")
    assert result["result"] == "done", result
    assert STOPPED["first"] <= STARTED["second"]


async def test_code_that_outlives_the_stop_grace_is_reported_and_keeps_its_slot(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), concurrency=1, stop_grace_s=0.2)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.swallower", "swallower", 1.0, timeout_s=0.1))
    await server.wait_for(lambda: len(server.of_type("stopping", "j1")) >= 2)
    stopping = server.of_type("stopping", "j1")
    assert "did not finish within 0.1s" in stopping[0]["message"]
    assert "did not stop within 0.2s" in stopping[1]["message"]
    assert any("did not stop within 0.2s" in line for line in run.lines)
    assert run.worker.busy == 1
    failure = await server.wait_message("failure", "j1")
    assert "swallower" in STOPPED
    assert failure["error"].startswith("TimeoutError")


async def test_an_async_task_that_ignores_its_cancellation_times_out_all_the_same(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), concurrency=1)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.async_stubborn", 0.6, timeout_s=0.1))
    await server.wait_message("stopping", "j1")
    assert run.worker.running == ["j1"]
    failure = await server.wait_message("failure", "j1")
    assert failure["error"] == "TimeoutError: task 't.async_stubborn' did not finish within 0.1s"
    assert not server.of_type("result", "j1")


async def test_drain_stops_what_outlives_the_grace_and_releases_it_after(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), drain_grace_s=0.2)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.chunked", "drained", 30, step=0.4))
    await _started(server, "drained")
    run.worker.request_drain()
    stopping = await server.wait_message("stopping", "j1")
    assert "draining" in stopping["message"]
    assert await run.finish() is True
    assert "drained" in STOPPED
    assert server.of_type("release", "j1") == [
        {"type": "release", "job_id": "j1", "token": "token-j1"}
    ]


async def test_drain_leaves_code_that_will_not_stop_unreleased(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), drain_grace_s=0.1, stop_grace_s=0.2)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.swallower", "unstoppable", 2.0))
    await _started(server, "unstoppable")
    run.worker.request_drain()
    assert await run.finish() is False  # code is left running: the process must go
    assert "unstoppable" not in STOPPED
    assert not server.of_type("release", "j1")
    assert any("leaving without releasing" in line for line in run.lines)


async def test_exit_when_stuck_drains_and_leaves_the_stuck_code_unreleased(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(_registry(), stop_grace_s=0.2, drain_grace_s=0.5, exit_when_stuck=True)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.swallower", "stuck", 3.0, timeout_s=0.05))
    await server.push_jobs(job("j2", "t.chunked", "healthy", 0.1))
    assert await run.finish() is False  # it leaves by itself, with code left running
    assert "stuck" not in STOPPED
    assert (await server.wait_message("result", "j2"))["result"] == "done"
    assert not server.of_type("release", "j1") and not server.of_type("failure", "j1")
    assert any("leave the stuck code behind" in line for line in run.lines)
