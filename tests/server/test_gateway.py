"""The worker gateway over a real socket: handshake, refusals, acks, leases, drain."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

import msgpack
import pytest

from rota.protocol import CLOSE_HELLO_REFUSED, CLOSE_UNSUPPORTED_VERSION, PROTOCOL_VERSION
from rota.protocol.closing import CLOSE_INTERNAL_ERROR
from rota.server.dispatcher import Dispatcher
from tests.server.conftest import LiveServer, StartServer
from tests.server.fakes import pack, result_message

JOBS = "/api/v1/jobs"


async def submit(server: LiveServer, **fields: Any) -> dict[str, Any]:
    response = await server.http.post(JOBS, json={"task": "rota.echo", **fields})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def fetch(server: LiveServer, job_id: str) -> dict[str, Any]:
    job: dict[str, Any] = (await server.http.get(f"{JOBS}/{job_id}")).json()
    return job


async def test_handshake_welcomes_and_registers_the_worker(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=3, queues=["default", "mail"], tags=["gpu"])
    welcome = worker.welcome
    assert welcome is not None
    assert welcome["version"] == PROTOCOL_VERSION
    assert welcome["heartbeat_s"] == 1.0
    assert welcome["lease_s"] == 5.0
    assert welcome["stale"] == []
    assert welcome["server"]
    workers = (await server.http.get("/api/v1/workers")).json()["workers"]
    assert [(w["name"], w["state"], w["capacity"]) for w in workers] == [("w1", "online", 3)]
    assert workers[0]["queues"] == ["default", "mail"]
    # The tasks it announced are known now.
    assert (await server.http.post(JOBS, json={"task": "app.add"})).status_code == 201


async def test_version_mismatch_is_refused(start_server: StartServer) -> None:
    server = await start_server()
    fake = server.fake("old", version=PROTOCOL_VERSION + 1)
    await fake.open()
    await fake.send(fake.hello)
    error = await fake.receive("error")
    assert "version" in error["message"]
    assert await fake.closed_with() == CLOSE_UNSUPPORTED_VERSION
    assert (await server.http.get("/api/v1/workers")).json()["workers"] == []


async def test_malformed_frames_are_refused(start_server: StartServer) -> None:
    server = await start_server()
    garbage = server.fake("g")
    await garbage.open()
    await garbage.socket.send(b"\xc1not msgpack")
    assert "msgpack" in (await garbage.receive("error"))["message"]
    assert await garbage.closed_with() == 1002

    text = server.fake("t")
    await text.open()
    await text.socket.send("hello")
    assert "binary" in (await text.receive("error"))["message"]
    assert await text.closed_with() == 1002

    first = server.fake("f")
    await first.open()
    await first.socket.send(
        pack({"type": "heartbeat", "running": [], "state": "online", "resources": {}})
    )
    assert "unexpected" in (await first.receive("error"))["message"]
    assert await first.closed_with() == 1002


async def test_a_second_hello_is_refused(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1")
    await worker.send(worker.hello)
    assert "hello" in (await worker.receive("error"))["message"]
    assert await worker.closed_with() == 1008


async def test_a_release_naming_a_job_id_of_megabytes_is_refused(
    start_server: StartServer,
) -> None:
    """Its ack would carry the id twice, over the frame limit: it was never sent."""
    server = await start_server()
    worker = await server.worker("w1")
    await worker.send({"type": "release", "job_id": "j" * 9 * 1024 * 1024, "token": "t"})
    assert "release.job_id must be 1 to" in (await worker.receive("error"))["message"]
    assert await worker.closed_with() == 1008


async def test_a_bad_hello_is_refused(start_server: StartServer) -> None:
    server = await start_server()
    fake = server.fake("w1", capacity=0)
    await fake.open()
    await fake.send(fake.hello)
    assert "capacity" in (await fake.receive("error"))["message"]
    assert await fake.closed_with() == CLOSE_HELLO_REFUSED


async def test_jobs_never_exceed_capacity(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=2)
    submitted = [await submit(server, args=[n]) for n in range(5)]
    jobs = await worker.receive_jobs(2)
    assert len(jobs) == 2
    assert await worker.nothing_within(0.3)
    first = jobs[0]
    assert first["job_id"] == submitted[0]["id"]
    assert first["task"] == "rota.echo"
    assert first["args"] == [0]
    assert first["attempt"] == 1
    assert first["max_attempts"] == 3
    assert first["queue"] == "default"
    assert first["token"]
    ack = await worker.finish(first, "done")
    assert ack == {"type": "ack", "job_id": first["job_id"], "ok": True, "error": None}
    assert len(await worker.receive_jobs(1)) == 1
    assert await worker.nothing_within(0.3)


async def test_result_completes_the_job_and_ends_a_long_poll(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1")
    job = await submit(server)
    waiting = asyncio.create_task(
        server.http.get(f"{JOBS}/{job['id']}/result", params={"wait": 30})
    )
    [sent] = await worker.receive_jobs(1)
    assert not waiting.done()
    assert (await worker.finish(sent, {"sum": 3}))["ok"] is True
    response = await asyncio.wait_for(waiting, 5)
    finished = response.json()
    assert finished["state"] == "succeeded"
    assert finished["result"] == {"sum": 3}
    assert finished["worker"] == "w1"


async def test_cancel_tells_the_worker_and_a_late_result_is_stale(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=1)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    assert (await server.http.delete(f"{JOBS}/{job['id']}")).json()["state"] == "cancelled"
    cancel = await worker.receive("cancel")
    assert cancel["job_id"] == job["id"]
    assert cancel["reason"]
    ack = await worker.finish(sent, "too late")
    assert ack["ok"] is False
    assert ack["error"]
    assert (await fetch(server, job["id"]))["state"] == "cancelled"
    # The cancelled job's slot is free again.
    await submit(server)
    assert len(await worker.receive_jobs(1)) == 1


async def test_heartbeat_extends_leases_and_reports_stale_ones(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=2)
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    before = datetime.fromisoformat((await fetch(server, job["id"]))["lease_expires_at"])
    bogus = {"job_id": "01a20000-0000-7000-8000-000000000000", "token": "bogus"}
    await worker.heartbeat([sent, bogus])
    leases = await worker.receive("leases")
    assert leases["stale"] == [bogus["job_id"]]
    after = datetime.fromisoformat((await fetch(server, job["id"]))["lease_expires_at"])
    assert after > before
    workers = (await server.http.get("/api/v1/workers")).json()["workers"]
    assert workers[0]["resources"] == {"cpu_percent": 1.0}


async def test_failure_retries_then_fails_for_good(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1")
    instant = {"base_s": 0.0, "factor": 1.0, "max_s": 0.0, "jitter": 0.0}
    job = await submit(server, max_attempts=2, backoff=instant)
    [first] = await worker.receive_jobs(1)
    failure = {"type": "failure", "job_id": job["id"], "error": "boom", "retryable": True}
    await worker.send({**failure, "token": first["token"], "traceback": "Traceback..."})
    assert (await worker.receive("ack"))["ok"] is True
    [second] = await worker.receive_jobs(1)
    assert second["attempt"] == 2
    await worker.send({**failure, "token": second["token"], "traceback": None})
    assert (await worker.receive("ack"))["ok"] is True
    finished = await fetch(server, job["id"])
    assert finished["state"] == "failed"
    assert finished["error"] == "boom"


async def test_release_gives_the_job_back(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1")
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    await worker.send({"type": "release", "job_id": job["id"], "token": sent["token"]})
    assert (await worker.receive("ack"))["ok"] is True
    [again] = await worker.receive_jobs(1)
    assert again["job_id"] == job["id"]
    assert again["token"] != sent["token"]


async def test_progress_and_log_lines_are_recorded(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1")
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    lease = {"job_id": job["id"], "token": sent["token"]}
    await worker.send({"type": "progress", **lease, "progress": 0.5, "message": "half"})
    line = {"at": 1_900_000_000.0, "stream": "stdout", "message": "printed"}
    await worker.send({"type": "log", **lease, "lines": [line]})
    await worker.send({"type": "log", "job_id": job["id"], "token": "stale", "lines": [line]})
    await worker.finish(sent)
    events = (await server.http.get(f"{JOBS}/{job['id']}/events")).json()["events"]
    logged = [event for event in events if event["kind"] == "log"]
    assert len(logged) == 1
    assert "printed" in logged[0]["message"]
    assert logged[0]["worker"] == "w1"
    assert logged[0]["attempt"] == 1


async def test_progress_is_stored(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=2)
    job = await submit(server)
    other = await submit(server)
    jobs = {j["job_id"]: j for j in await worker.receive_jobs(2)}
    sent = jobs[job["id"]]
    await worker.send(
        {"type": "progress", "job_id": job["id"], "token": sent["token"], "progress": 0.5}
    )
    # Messages are handled in order: once the other job's ack arrives, progress is stored.
    await worker.finish(jobs[other["id"]])
    assert (await fetch(server, job["id"]))["progress"] == 0.5


async def test_drain_stops_dispatch_to_that_worker(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=4)
    response = await server.http.post("/api/v1/workers/w1/drain")
    assert response.status_code == 202
    await worker.receive("drain")
    await submit(server)
    assert await worker.nothing_within(0.3)


async def test_worker_announcing_drain_gets_no_more_jobs(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=4)
    await worker.send({"type": "drain"})
    await worker.heartbeat([], state="draining")
    await submit(server)
    assert await worker.nothing_within(0.3)
    workers = (await server.http.get("/api/v1/workers")).json()["workers"]
    assert workers[0]["state"] == "draining"


async def test_delayed_job_is_sent_once_due(start_server: StartServer) -> None:
    server = await start_server()
    worker = await server.worker("w1")
    job = await submit(server, delay=0.3)
    [sent] = await worker.receive_jobs(1)
    started = await fetch(server, job["id"])
    assert sent["job_id"] == job["id"]
    assert datetime.fromisoformat(started["started_at"]) >= datetime.fromisoformat(job["run_at"])


async def test_the_acks_and_the_jobs_that_fill_the_freed_slots_share_one_frame(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=2)
    for n in range(4):
        await submit(server, args=[n])
    first, second = await worker.receive_jobs(2)
    await worker.send_batch(result_message(first, 1), result_message(second, 2))
    frame = msgpack.unpackb(await worker.socket.recv())
    assert frame["type"] == "batch"
    kinds = [message["type"] for message in frame["messages"]]
    assert kinds == ["ack", "ack", "jobs"]
    assert {ack["job_id"] for ack in frame["messages"][:2]} == {
        first["job_id"],
        second["job_id"],
    }
    assert len(frame["messages"][2]["jobs"]) == 2


async def test_outcomes_in_one_batch_are_settled_together_and_acked_in_one_frame(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("w1", capacity=4)
    submitted = [await submit(server, max_attempts=1) for _ in range(4)]
    jobs = {job["job_id"]: job for job in await worker.receive_jobs(4)}
    done, failed, released, stale = (jobs[job["id"]] for job in submitted)
    failure = {"type": "failure", "error": "boom", "traceback": None, "retryable": False}
    await worker.send_batch(
        result_message(done, {"n": 1}),
        {**failure, "job_id": failed["job_id"], "token": failed["token"]},
        {"type": "release", "job_id": released["job_id"], "token": released["token"]},
        result_message({**stale, "token": "not-the-token"}, 2),
    )
    frame = msgpack.unpackb(await worker.socket.recv())
    while frame["type"] == "jobs":  # the released job may be handed out again meanwhile
        frame = msgpack.unpackb(await worker.socket.recv())
    assert frame["type"] == "batch"
    # The acks come first, the released job's new hand-out may ride in the same frame.
    messages = [m for m in frame["messages"] if m["type"] != "jobs"]
    assert {ack["type"] for ack in messages} == {"ack"}
    assert frame["messages"][: len(messages)] == messages
    acks = {ack["job_id"]: (ack["ok"], ack["error"]) for ack in messages}
    assert acks[done["job_id"]] == acks[failed["job_id"]] == acks[released["job_id"]]
    assert acks[done["job_id"]] == (True, None)
    assert acks[stale["job_id"]][0] is False and "stale" in acks[stale["job_id"]][1]
    assert (await fetch(server, done["job_id"]))["result"] == {"n": 1}
    assert (await fetch(server, failed["job_id"]))["state"] == "failed"
    assert (await fetch(server, stale["job_id"]))["state"] == "running"


async def test_acks_that_cannot_be_sent_close_the_connection_rather_than_hang_it(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The outcome is recorded; its ack fails: the worker reconnects and sends it again
    (the store answers it as already settled) instead of waiting for an ack forever."""

    async def failing(*_: Any) -> None:
        raise RuntimeError("the ack could not be encoded")

    server = await start_server()
    worker = await server.worker("w1")
    job = await submit(server)
    [sent] = await worker.receive_jobs(1)
    monkeypatch.setattr(Dispatcher, "acknowledge", failing)
    await worker.send(result_message(sent, {"sum": 3}))
    assert await worker.closed_with() == CLOSE_INTERNAL_ERROR
    assert (await fetch(server, job["id"]))["state"] == "succeeded"
