"""`[worker] prefetch`: jobs taken beyond `concurrency` wait for a slot before their code
starts, never run beyond `concurrency` at once, and are given back by a cancel or a drain
without their code ever starting."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import worker_sample_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

Start = Callable[..., WorkerRun]


async def _connected(server: FakeServer, start_worker: Start, **overrides: object) -> WorkerRun:
    run = start_worker(make_registry(worker_sample_tasks.registry), **overrides)
    await server.wait_connected()
    return run


async def _one_slow_then_quick(
    server: FakeServer, run: WorkerRun, seconds: float, *quick: str
) -> None:
    """Hand over j1, slow_async(seconds), and quick jobs named `quick` in one frame; wait
    until the worker holds them all."""
    orders = [job("j1", "t.slow_async", seconds), *(job(name, "t.began") for name in quick)]
    await server.send({"type": "jobs", "jobs": orders})
    await server.wait_for(lambda: run.worker.running == ["j1", *quick])


async def test_hello_offers_the_slots_and_the_prefetch(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(concurrency=3, prefetch=2)
    hello = await server.wait_connected()
    assert (hello["capacity"], hello["prefetch"]) == (3, 2)


async def test_without_prefetch_a_job_beyond_the_slots_is_released(
    server: FakeServer, start_worker: Start
) -> None:
    await _connected(server, start_worker, concurrency=1)
    await server.send(
        {"type": "jobs", "jobs": [job("j1", "t.slow_async", 0.3), job("j2", "t.began")]}
    )
    assert (await server.wait_message("release", "j2"))["token"] == "token-j2"


async def test_a_prefetched_job_starts_when_the_running_one_ends(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker, concurrency=1, prefetch=2)
    await _one_slow_then_quick(server, run, 0.3, "j2", "j3")
    await asyncio.sleep(0.1)
    assert not server.of_type("result", "j2")  # its code waits for j1's slot
    first = await server.wait_message("result", "j1")
    second = await server.wait_message("result", "j2")
    third = await server.wait_message("result", "j3")
    assert first["result"] == "slept"
    assert second["result"] <= third["result"]
    assert not server.of_type("release")


async def test_never_more_code_runs_at_once_than_the_slots(
    server: FakeServer, start_worker: Start
) -> None:
    await _connected(server, start_worker, concurrency=2, prefetch=4)
    keys = [f"prefetch-{n}" for n in range(6)]
    jobs = [job(f"j{n}", "t.chunked", key, 0.2) for n, key in enumerate(keys)]
    await server.send({"type": "jobs", "jobs": jobs})
    results = [await server.wait_message("result", f"j{n}") for n in range(6)]
    assert all(result["result"] == "done" for result in results)
    spans = [(worker_sample_tasks.STARTED[key], worker_sample_tasks.STOPPED[key]) for key in keys]
    at_once = max(sum(1 for start, stop in spans if start <= moment < stop) for moment, _ in spans)
    assert at_once == 2


async def test_a_cancel_of_a_prefetched_job_releases_it_unstarted(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker, concurrency=1, prefetch=1)
    await _one_slow_then_quick(server, run, 0.5, "j2")
    await server.send({"type": "cancel", "job_id": "j2", "reason": "user"})
    assert (await server.wait_message("release", "j2"))["token"] == "token-j2"
    assert (await server.wait_message("result", "j1"))["result"] == "slept"
    assert not server.of_type("result", "j2")


async def test_a_drain_gives_prefetched_jobs_back_and_finishes_the_running_one(
    server: FakeServer, start_worker: Start
) -> None:
    run = await _connected(server, start_worker, concurrency=1, prefetch=2)
    await _one_slow_then_quick(server, run, 0.4, "j2", "j3")
    run.worker.request_drain()
    assert (await server.wait_message("release", "j2"))["token"] == "token-j2"
    assert (await server.wait_message("release", "j3"))["token"] == "token-j3"
    assert (await server.wait_message("result", "j1"))["result"] == "slept"
    assert not server.of_type("result", "j2") and not server.of_type("result", "j3")


async def test_no_prefetch_while_stuck_code_fills_every_slot(
    server: FakeServer, start_worker: Start
) -> None:
    """A job waiting for a slot that stuck code holds would wait as long as that code runs:
    the worker gives it back, and takes no job beyond its slots until the code stopped."""
    run = await _connected(server, start_worker, concurrency=1, prefetch=1, stop_grace_s=0.3)
    await server.send({"type": "jobs", "jobs": [job("j1", "t.stubborn", 3.0)]})
    await server.wait_for(lambda: run.worker.running == ["j1"])
    await server.send({"type": "jobs", "jobs": [job("j2", "t.began")]})
    await server.wait_for(lambda: run.worker.running == ["j1", "j2"])
    await server.send({"type": "cancel", "job_id": "j1", "reason": "user"})
    # Once j1's code outlives its stop grace, j2 goes back...
    assert (await server.wait_message("release", "j2"))["token"] == "token-j2"
    # ...and a job handed over meanwhile is not kept either.
    await server.send({"type": "jobs", "jobs": [job("j3", "t.began")]})
    assert (await server.wait_message("release", "j3"))["token"] == "token-j3"
    assert not server.of_type("result", "j2") and not server.of_type("result", "j3")
