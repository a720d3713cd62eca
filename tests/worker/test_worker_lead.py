"""A job handed over ahead of its run_at (within the worker's lead): held, then started at
that moment by the server's clock, never before; a cancel or a lost lease ends the hold."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import worker_sample_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

Start = Callable[..., WorkerRun]


def _ahead(job_id: str, run_at: float) -> dict[str, object]:
    return {**job(job_id, "t.began"), "run_at": run_at}


async def _connected(server: FakeServer, start_worker: Start, **overrides: object) -> WorkerRun:
    """Start a worker with the sample tasks and wait for its hello."""
    run = start_worker(make_registry(worker_sample_tasks.registry), **overrides)
    await server.wait_connected()
    return run


async def _hand_over(server: FakeServer, *orders: dict[str, object]) -> None:
    """Send a frame of jobs stamped with the server's clock (this machine's)."""
    await server.send({"type": "jobs", "jobs": list(orders), "sent_at": time.time()})


async def _held(server: FakeServer, run: WorkerRun, run_at: float) -> None:
    """Hand job j1 over ahead of its run_at and wait until the worker holds it."""
    await _hand_over(server, _ahead("j1", run_at))
    await server.wait_for(lambda: run.worker.running == ["j1"])


async def test_hello_says_the_lead(server: FakeServer, start_worker: Start) -> None:
    start_worker(lead_s=0.75)
    assert (await server.wait_connected())["lead_s"] == 0.75


async def test_a_job_handed_over_ahead_starts_at_its_run_at_not_before(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker)
    run_at = time.time() + 0.6
    await _held(server, run, run_at)
    result = await server.wait_message("result", "j1")
    assert result["result"] >= run_at


async def test_the_run_at_is_read_by_the_servers_clock(
    server: FakeServer, start_worker: Start
) -> None:
    # The server's clock is 2 s behind this one: by this clock the job is long due, by the
    # server's it is not, and the worker must not start it before the server's moment.
    run = await _connected(server, start_worker)
    behind_s = 2.0
    server_now = time.time() - behind_s
    run_at = server_now + 0.4
    await server.send({"type": "jobs", "jobs": [_ahead("j1", run_at)], "sent_at": server_now})
    result = await server.wait_message("result", "j1")
    assert result["result"] - behind_s >= run_at
    assert run.worker.clock_offset_s() >= behind_s


async def test_a_cancel_during_the_hold_means_the_code_never_starts(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker)
    run_at = time.time() + 0.8
    await _held(server, run, run_at)
    await server.send({"type": "cancel", "job_id": "j1", "reason": "user"})
    release = await server.wait_message("release", "j1")
    assert release == {"type": "release", "job_id": "j1", "token": "token-j1"}
    assert run.worker.running == []
    await asyncio.sleep(max(0.0, run_at - time.time()) + 0.2)
    assert not server.of_type("result", "j1") and not server.of_type("failure", "j1")


async def test_a_job_taken_back_during_the_hold_is_dropped_unrun(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker)
    run_at = time.time() + 0.8
    await _held(server, run, run_at)
    await server.send({"type": "leases", "stale": ["j1"]})  # edited: the server took it back
    await server.wait_for(lambda: run.worker.busy == 0, what="the held slot freed")
    await asyncio.sleep(max(0.0, run_at - time.time()) + 0.2)
    assert [m for m in server.received if m.get("job_id") == "j1"] == []


async def test_a_job_held_while_cut_off_starts_only_once_connected_and_not_if_stale(
    server: FakeServer, start_worker: Start
) -> None:
    # Cut off during the hold, the worker cannot know whether the server gave the jobs back
    # (and handed them to another worker): it starts none at its run_at, and on reconnect
    # drops the one the server says is stale and starts the other.
    run = await _connected(server, start_worker)
    run_at = time.time() + 0.4
    jobs = [_ahead("j1", run_at), _ahead("j2", run_at)]
    await _hand_over(server, *jobs)
    await server.wait_for(lambda: sorted(run.worker.running) == ["j1", "j2"])
    server.stale = {"j1"}
    await server.stop()
    await server.drop()
    await asyncio.sleep(max(0.0, run_at - time.time()) + 0.4)
    back_at = time.time()
    await server.start()
    hello = await server.wait_connected(2)
    assert {lease["job_id"] for lease in hello["running"]} == {"j1", "j2"}
    result = await server.wait_message("result", "j2")
    assert result["result"] >= back_at
    await asyncio.sleep(0.2)
    assert not server.of_type("result", "j1") and not server.of_type("failure", "j1")


async def test_a_drain_gives_held_jobs_back_at_once(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker)
    run_at = time.time() + 5.0
    await _held(server, run, run_at)
    run.worker.request_drain()
    release = await server.wait_message("release", "j1")
    assert release == {"type": "release", "job_id": "j1", "token": "token-j1"}
    assert time.time() < run_at
    assert await run.finish()
    assert not server.of_type("result", "j1") and not server.of_type("failure", "j1")


class SteppedClock:
    """This machine's clocks, with the wall clock stepped forward on demand (an NTP step,
    a suspended VM waking up); the monotonic clock does not move with it."""

    def __init__(self) -> None:
        self.step_s = 0.0

    def now_utc(self) -> datetime:
        return datetime.now(UTC) + timedelta(seconds=self.step_s)

    def monotonic(self) -> float:
        return time.monotonic()


async def test_a_step_of_the_workers_wall_clock_does_not_start_a_held_job_early(
    server: FakeServer, start_worker: Start
) -> None:
    clock = SteppedClock()
    await _connected(server, start_worker, clock=clock)
    await _hand_over(server, job("j0", "t.began"))
    await server.wait_message("result", "j0")  # the worker has read the server's time
    clock.step_s = 30.0  # by the stepped clock the next job is long due; by the server's not
    run_at = time.time() + 0.8
    await _hand_over(server, _ahead("j1", run_at))
    result = await server.wait_message("result", "j1")
    assert result["result"] >= run_at
