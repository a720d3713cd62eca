"""Dispatch across several fake workers: policies, disconnects and reconnects (a worker
that takes its old connection's place: test_worker_names.py)."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime, timedelta

import pytest

from rota.protocol import CLOSE_HELLO_REFUSED
from tests.server.conftest import StartServer
from tests.server.test_gateway import JOBS, fetch, submit

INSTANT_RETRY = {"base_s": 0.0, "factor": 1.0, "max_s": 0.0, "jitter": 0.0}


async def test_least_loaded_spreads_two_jobs_over_two_idle_workers(
    start_server: StartServer,
) -> None:
    server = await start_server()
    first = await server.worker("a", capacity=4)
    second = await server.worker("b", capacity=4)
    response = await server.http.post(
        "/api/v1/jobs", json=[{"task": "rota.echo"}, {"task": "rota.echo"}]
    )
    assert response.status_code == 201
    assert len(await first.receive_jobs(1)) == 1
    assert len(await second.receive_jobs(1)) == 1
    assert await first.nothing_within(0.2)
    assert await second.nothing_within(0.1)


async def test_least_loaded_prefers_the_emptier_worker(start_server: StartServer) -> None:
    server = await start_server()
    busy = await server.worker("busy", capacity=2)
    await submit(server)
    await busy.receive_jobs(1)
    idle = await server.worker("idle", capacity=2)
    # Let the round that idle's arrival started end first: a job submitted during that
    # round may go to whichever worker is asked after it lands, whatever their loads.
    await asyncio.sleep(0.3)
    await submit(server)
    assert len(await idle.receive_jobs(1)) == 1
    assert await busy.nothing_within(0.2)


async def test_a_prefetching_worker_gets_its_slots_and_prefetch_and_no_more(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("a", capacity=2, prefetch=3)
    response = await server.http.post(JOBS, json=[{"task": "rota.echo"} for _ in range(7)])
    assert response.status_code == 201, response.text
    assert len(await worker.receive_jobs(5)) == 5
    assert await worker.nothing_within(0.3)


async def test_load_counts_jobs_per_slot_so_prefetch_does_not_hide_a_busy_worker(
    start_server: StartServer,
) -> None:
    # 8 jobs on a worker of 8 slots that prefetches 16 is a full worker (load 1), busier
    # than one of 8 slots with 3 jobs: counted against its 24 jobs it would look emptier.
    server = await start_server()
    prefetching = await server.worker("prefetching", capacity=8, prefetch=16)
    response = await server.http.post(JOBS, json=[{"task": "rota.echo"} for _ in range(8)])
    assert response.status_code == 201, response.text
    assert len(await prefetching.receive_jobs(8)) == 8
    plain = await server.worker("plain", capacity=8)
    await asyncio.sleep(0.3)
    response = await server.http.post(JOBS, json=[{"task": "rota.echo"} for _ in range(3)])
    assert response.status_code == 201, response.text
    assert len(await plain.receive_jobs(3)) == 3
    await asyncio.sleep(0.3)
    await submit(server)
    assert len(await plain.receive_jobs(1)) == 1
    assert await prefetching.nothing_within(0.2)


async def test_a_hello_whose_prefetch_would_pass_the_limit_is_refused(
    start_server: StartServer,
) -> None:
    server = await start_server()
    fake = server.fake("greedy", capacity=9000, prefetch=1001)
    await fake.open()
    await fake.send(fake.hello)
    assert "prefetch" in (await fake.receive("error"))["message"]
    assert await fake.closed_with() == CLOSE_HELLO_REFUSED


async def test_round_robin_takes_turns(start_server: StartServer) -> None:
    server = await start_server(dispatch_policy="round-robin")
    first = await server.worker("a", capacity=4)
    second = await server.worker("b", capacity=4)
    # One bulk submission, so all four are due in the same dispatch round: jobs trickling
    # in one by one race the rotation, and then strict turns cannot be promised.
    response = await server.http.post(JOBS, json=[{"task": "rota.echo"} for _ in range(4)])
    assert response.status_code == 201, response.text
    assert len(await first.receive_jobs(2)) == 2
    assert len(await second.receive_jobs(2)) == 2
    assert await first.nothing_within(0.2)
    assert await second.nothing_within(0.1)


async def test_queues_and_targets_route_jobs(start_server: StartServer) -> None:
    server = await start_server()
    mail = await server.worker("mail-worker", queues=["mail"])
    device = await server.worker("kitchen", tags=["device:kitchen"])
    await submit(server, target="device:kitchen")
    assert len(await device.receive_jobs(1)) == 1
    await submit(server, queue="mail")
    assert len(await mail.receive_jobs(1)) == 1
    assert await mail.nothing_within(0.1)


async def test_disconnect_expires_leases_and_another_worker_runs_the_job(
    start_server: StartServer,
) -> None:
    server = await start_server(disconnect_grace_s=0.2)
    lost = await server.worker("lost", capacity=1)
    job = await submit(server, backoff=INSTANT_RETRY)
    [first] = await lost.receive_jobs(1)
    assert first["attempt"] == 1
    spare = await server.worker("spare", capacity=1)
    assert await spare.nothing_within(0.1)
    await lost.close()
    [second] = await spare.receive_jobs(1)
    assert second["job_id"] == job["id"]
    assert second["attempt"] == 2
    assert (await spare.finish(second, 42))["ok"] is True
    done = await fetch(server, job["id"])
    assert (done["state"], done["worker"], done["result"]) == ("succeeded", "spare", 42)
    workers = (await server.http.get("/api/v1/workers")).json()["workers"]
    assert {w["name"]: w["state"] for w in workers} == {"spare": "online", "lost": "offline"}


async def test_reconnect_presenting_the_token_keeps_the_job_running(
    start_server: StartServer,
) -> None:
    server = await start_server(disconnect_grace_s=0.3)
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    await worker.close()
    bogus = {"job_id": "01a20000-0000-7000-8000-000000000000", "token": "bogus"}
    again = server.fake(
        "w1", capacity=1, running=[{"job_id": job["id"], "token": sent["token"]}, bogus]
    )
    welcome = await again.connect()
    assert welcome["stale"] == [bogus["job_id"]]
    # Well past the grace period: the lease was extended, so nothing reaps it.
    await asyncio.sleep(0.6)
    running = await fetch(server, job["id"])
    assert (running["state"], running["attempt"]) == ("running", 1)
    # The re-presented job still fills the worker's only slot.
    await submit(server)
    assert await again.nothing_within(0.2)
    assert (await again.finish(sent, "kept"))["ok"] is True
    assert (await fetch(server, job["id"]))["state"] == "succeeded"
    assert len(await again.receive_jobs(1)) == 1


async def test_a_device_gets_its_reminders_ahead_of_time_and_others_do_not(
    start_server: StartServer,
) -> None:
    server = await start_server()
    plain = await server.worker("plain", capacity=4, tags=["device"])
    laptop = server.fake("laptop", capacity=4, tags=["device", "device:laptop"])
    laptop.hello["horizon_s"] = 1.0
    await laptop.connect()
    run_at = datetime.now(UTC) + timedelta(seconds=1.6)
    job = await submit(server, target="device:laptop", run_at=run_at.isoformat())
    # Not at once (the run_at is beyond the horizon), but once it comes within reach.
    assert await laptop.nothing_within(0.3)
    [order] = await laptop.receive_jobs(1)
    received_at = datetime.now(UTC)
    assert order["job_id"] == job["id"]
    assert received_at < run_at
    assert order["run_at"] == pytest.approx(run_at.timestamp(), abs=0.001)
    assert await plain.nothing_within(0.1)


async def test_a_worker_with_a_lead_gets_any_delayed_job_that_long_ahead(
    start_server: StartServer,
) -> None:
    server = await start_server()
    plain = await server.worker("plain", capacity=4)
    ahead = server.fake("ahead", capacity=4)
    ahead.hello["lead_s"] = 1.0
    await ahead.connect()
    run_at = datetime.now(UTC) + timedelta(seconds=1.6)
    job = await submit(server, run_at=run_at.isoformat())
    # Not at once (the run_at is beyond the lead), but once it comes within reach.
    assert await ahead.nothing_within(0.3)
    message = await ahead.receive("jobs")
    received_at = datetime.now(UTC)
    [order] = message["jobs"]
    assert order["job_id"] == job["id"]
    assert received_at < run_at
    assert order["run_at"] == pytest.approx(run_at.timestamp(), abs=0.001)
    # The frame says the server's time, so the worker can start the job by that clock.
    assert message["sent_at"] <= received_at.timestamp()
    assert await plain.nothing_within(0.1)
    held = await fetch(server, job["id"])
    assert held["state"] == "running" and held["worker"] == "ahead"
    # Its record never says it started before its run_at.
    started_at = datetime.fromisoformat(held["started_at"]).timestamp()
    assert started_at == pytest.approx(run_at.timestamp(), abs=0.001)
