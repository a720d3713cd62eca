"""One live worker per name: a second connection under a live worker's name is refused at
hello and changes nothing, unless it presents the session its welcome gave that worker (the
worker came back after a network loss), in which case it takes the old connection's place
and keeps its leases."""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from rota import protocol
from rota.errors import WorkerRefused
from rota.protocol import CLOSE_NAME_TAKEN, PROTOCOL_VERSION
from rota.settings import settings_of
from rota.store import Store
from rota.store.base import WorkerInfo
from rota.tasks.builtin import builtin_registry
from rota.worker.runtime import Worker
from tests.server.conftest import LiveServer, StartServer
from tests.server.fakes import FakeWorker
from tests.server.test_gateway import JOBS, fetch, submit


async def workers(server: LiveServer) -> list[dict[str, Any]]:
    listed: list[dict[str, Any]] = (await server.http.get("/api/v1/workers")).json()["workers"]
    return listed


async def refused(impostor: FakeWorker) -> str:
    """Say hello and return the error the server answers, once it closed with CLOSE_NAME_TAKEN."""
    await impostor.open()
    await impostor.send(impostor.hello)
    error = await impostor.receive("error")
    assert await impostor.closed_with() == CLOSE_NAME_TAKEN
    message: str = error["message"]
    return message


async def test_an_impostor_under_a_live_name_is_refused_and_takes_no_job(
    start_server: StartServer,
) -> None:
    server = await start_server(lease_s=2.0)
    honest = await server.worker("twin", capacity=20)
    assert honest.welcome is not None and honest.welcome["session"]
    impostor = server.fake("twin", capacity=1000)
    message = await refused(impostor)
    assert "'twin' is taken" in message and "--name" in message
    # The refused hello changed nothing: the worker is listed as the honest one said.
    assert [(w["name"], w["capacity"]) for w in await workers(server)] == [("twin", 20)]

    response = await server.http.post(JOBS, json=[{"task": "rota.echo"}] * 20)
    assert response.status_code == 201
    orders = await honest.receive_jobs(20)
    assert len({order["job_id"] for order in orders}) == 20
    for order in orders:
        assert (await honest.finish(order, "done"))["ok"] is True
    for order in orders:
        job = await fetch(server, order["job_id"])
        assert (job["state"], job["attempt"], job["worker"]) == ("succeeded", 1, "twin")


async def test_a_wrong_session_is_refused_too(start_server: StartServer) -> None:
    server = await start_server()
    await server.worker("twin")
    impostor = server.fake("twin")
    impostor.hello["session"] = "guessed"
    assert "is taken" in await refused(impostor)


async def test_a_worker_back_with_its_session_takes_its_old_connection_s_place(
    start_server: StartServer,
) -> None:
    server = await start_server(lease_s=5.0)
    old = await server.worker("w1", capacity=2)
    job = await submit(server)
    [order] = await old.receive_jobs(1)
    assert old.welcome is not None
    # The network failed; the server still counts the old connection as live.
    lease = {"job_id": order["job_id"], "token": order["token"]}
    back = server.fake("w1", capacity=2, running=[lease])
    back.hello["session"] = old.welcome["session"]
    welcome = await back.connect()
    assert welcome["stale"] == []
    assert welcome["session"] and welcome["session"] != old.welcome["session"]
    assert "replaced" in (await old.receive("error"))["message"]
    assert await old.closed_with() == 1000
    # The job it held kept its lease and its attempt.
    assert (await back.finish(order, "kept"))["ok"] is True
    done = await fetch(server, job["id"])
    assert (done["state"], done["attempt"], done["result"]) == ("succeeded", 1, "kept")
    assert [(w["name"], w["state"]) for w in await workers(server)] == [("w1", "online")]
    # The old session's secret was for that session only.
    again = server.fake("w1")
    again.hello["session"] = old.welcome["session"]
    assert "is taken" in await refused(again)


async def test_a_name_whose_worker_left_is_free(start_server: StartServer) -> None:
    server = await start_server()
    first = await server.worker("w1")
    await first.close()
    for _ in range(100):  # the server hears of the close a moment later
        if [w["state"] for w in await workers(server)] != ["online"]:
            break
        await asyncio.sleep(0.05)
    second = server.fake("w1")
    assert (await second.connect())["version"]


async def run_refused(server: LiveServer, name: str) -> str:
    """Run a real worker against the server; return the reason it was refused for good."""
    settings = settings_of({"server": [server.url], "name": name})
    worker = Worker(settings, builtin_registry(), report=lambda line: None)
    with pytest.raises(WorkerRefused) as refusal:
        async with asyncio.timeout(10):  # a worker that reconnected for ever would hang here
            await worker.run()
    return refusal.value.message


async def test_a_name_left_online_by_a_killed_server_of_an_sqlite_file_is_free(
    start_server: StartServer, store: Store
) -> None:
    # `rota dev` SIGKILLed and started again: its workers, started afresh, get in at once
    # (one server owns an SQLite file, so the entry is a leftover, however recent).
    now = await store.now()
    await store.register_worker(
        WorkerInfo(
            name="w1", queues=["default"], server="killed:1", connected_at=now, last_seen_at=now
        )
    )
    server = await start_server()
    assert (await server.worker("w1")).welcome is not None


async def test_a_worker_refused_for_its_name_or_version_stops_with_the_reason(
    start_server: StartServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    server = await start_server()
    await server.worker("twin")
    assert "the worker name 'twin' is taken" in await run_refused(server, "twin")
    monkeypatch.setattr(protocol, "PROTOCOL_VERSION", PROTOCOL_VERSION + 1)
    message = await run_refused(server, "newer")
    assert f"protocol version {PROTOCOL_VERSION + 1} is not supported" in message
    assert [w["name"] for w in await workers(server)] == ["twin"]
