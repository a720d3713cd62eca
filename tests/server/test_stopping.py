"""The gateway and dispatcher while a job's code is stopping: the slot stays taken, the job
shows it, and nothing runs it again until the worker says the code stopped."""

from __future__ import annotations

from typing import Any

from rota.store.base import Store
from tests.server.conftest import LiveServer, StartServer
from tests.server.fakes import FakeWorker
from tests.server.test_gateway import JOBS, fetch, submit


def beat(jobs: list[dict[str, Any]], unleased: int = 0) -> dict[str, Any]:
    return {
        "type": "heartbeat",
        "running": [{"job_id": job["job_id"], "token": job["token"]} for job in jobs],
        "unleased": unleased,
        "state": "online",
        "resources": {},
    }


async def kinds_of(server: LiveServer, job_id: str) -> list[str]:
    events = (await server.http.get(f"{JOBS}/{job_id}/events")).json()["events"]
    return [event["kind"] for event in events]


async def test_a_cancelled_job_keeps_its_slot_until_the_worker_releases_it(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    waiting = await submit(server)

    cancelled = (await server.http.delete(f"{JOBS}/{job['id']}")).json()
    assert cancelled["state"] == "cancelled" and cancelled["stopping"] is True
    assert (await worker.receive("cancel"))["job_id"] == job["id"]
    # The code has not stopped yet: its slot is not free, and the job cannot run again.
    assert await worker.nothing_within(0.5)
    assert (await fetch(server, waiting["id"]))["state"] == "pending"
    retry = await server.http.post(f"{JOBS}/{job['id']}/retry")
    assert retry.status_code == 409 and "stopping on worker w1" in retry.text
    await worker.send(beat([sent]))  # heartbeats keep the stopping attempt's lease
    assert await worker.nothing_within(0.3)

    await worker.send({"type": "release", "job_id": job["id"], "token": sent["token"]})
    assert (await worker.receive("ack"))["ok"] is True
    [given] = await worker.receive_jobs(1)
    assert given["job_id"] == waiting["id"]
    stopped = await fetch(server, job["id"])
    assert stopped["state"] == "cancelled" and stopped["stopping"] is False
    assert (await kinds_of(server, job["id"]))[-2:] == ["cancelled", "stopped"]
    assert (await server.http.post(f"{JOBS}/{job['id']}/retry")).status_code == 200


async def test_a_result_that_crossed_the_cancel_still_ends_the_lease(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    await server.http.delete(f"{JOBS}/{job['id']}")
    await worker.receive("cancel")
    ack = await worker.finish(sent, "too late")  # the code had finished: it has stopped
    assert ack["ok"] is False and "cancelled" in ack["error"]
    done = await fetch(server, job["id"])
    assert done["state"] == "cancelled" and done["stopping"] is False and done["result"] is None
    await submit(server)
    assert len(await worker.receive_jobs(1)) == 1


async def test_a_cancel_made_through_another_server_reaches_the_worker_by_heartbeat(
    start_server: StartServer, store: Store
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    await store.cancel(job["id"])  # as another server would: nothing here is told
    await worker.send(beat([sent]))
    cancel = await worker.receive("cancel")
    assert cancel["job_id"] == job["id"]
    await worker.send(beat([sent]))  # told once is enough
    assert await worker.nothing_within(0.3)
    assert (await fetch(server, job["id"]))["stopping"] is True


async def test_a_reconnecting_worker_is_told_to_stop_a_job_cancelled_meanwhile(
    start_server: StartServer, store: Store
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    await worker.close()
    await store.cancel(job["id"])
    again = server.fake("w1", capacity=1, running=[{"job_id": job["id"], "token": sent["token"]}])
    welcome = await again.connect()
    assert welcome["stale"] == []
    assert (await again.receive("cancel"))["job_id"] == job["id"]


async def test_stopping_marks_the_job_and_keeps_the_slot(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    waiting = await submit(server)
    stopping = {"type": "stopping", "job_id": job["id"], "token": sent["token"]}
    await worker.send({**stopping, "message": "timed out after 2s; waiting for its code"})
    await worker.send({**stopping, "token": "stale", "message": "ignored"})
    await worker.send(beat([sent]))
    assert await worker.nothing_within(0.3)
    shown = await fetch(server, job["id"])
    assert shown["state"] == "running" and shown["stopping"] is True
    events = (await server.http.get(f"{JOBS}/{job['id']}/events")).json()["events"]
    assert [e["message"] for e in events if e["kind"] == "stopping"] == [
        "timed out after 2s; waiting for its code"
    ]
    failure = {"type": "failure", "job_id": job["id"], "token": sent["token"]}
    await worker.send({**failure, "error": "TimeoutError", "retryable": False, "traceback": None})
    assert (await worker.receive("ack"))["ok"] is True
    assert (await worker.receive_jobs(1))[0]["job_id"] == waiting["id"]
    assert (await fetch(server, job["id"]))["stopping"] is False


async def test_unleased_slots_are_not_given_out(start_server: StartServer) -> None:
    server = await start_server()
    worker = FakeWorker(server.ws_url, name="w1", capacity=2)
    worker.hello["unleased"] = 1  # code of a lost lease still stopping when it reconnects
    await worker.connect()
    first = await submit(server)
    second = await submit(server)
    [given] = await worker.receive_jobs(1)
    assert given["job_id"] == first["id"]
    await worker.send(beat([given], unleased=1))
    assert await worker.nothing_within(0.5)
    workers = (await server.http.get("/api/v1/workers")).json()["workers"]
    assert workers[0]["running"] == 2  # what the worker's slots really hold
    await worker.send(beat([given], unleased=0))  # that code stopped
    [later] = await worker.receive_jobs(1)
    assert later["job_id"] == second["id"]
    await worker.close()
