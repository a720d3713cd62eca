"""One live worker per name across servers that share a PostgreSQL store: a hello through
server B under the name of a worker connected to server A is refused (4409) and changes
nothing, but the worker itself, presenting its session, is let in on B; and once it
moved, its old connection's end on A takes neither its entry nor its leases."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable
from typing import Any

import pytest

from rota.server.gateway import REPLACED
from rota.store.postgres import PostgresStore
from tests.contract.postgres import stores_on_one_schema
from tests.server.conftest import LiveServer, StartServer
from tests.server.test_gateway import fetch, submit
from tests.server.test_worker_names import refused, workers

pytestmark = pytest.mark.postgres

OpenShared = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def open_shared() -> AsyncIterator[OpenShared]:
    """Open stores on one schema, as several servers would; closed after the servers."""
    async with stores_on_one_schema() as open_one:
        yield open_one


@pytest.fixture
async def store(open_shared: OpenShared) -> PostgresStore:
    """The first server's store (start_server's own), on the shared schema."""
    return await open_shared()


@pytest.fixture
async def two_servers(
    start_server: StartServer, open_shared: OpenShared
) -> tuple[LiveServer, LiveServer]:
    a = await start_server(server_name="server-a")
    b = await start_server(on=await open_shared(), server_name="server-b")
    return a, b


def listed(entries: list[dict[str, Any]]) -> list[tuple[str, str, int]]:
    return [(w["name"], w["state"], w["capacity"]) for w in entries]


async def test_a_live_worker_s_name_is_refused_through_another_server(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    honest = await a.worker("twin", capacity=3)
    for presented in (None, "guessed"):
        impostor = b.fake("twin", capacity=1000)
        if presented is not None:
            impostor.hello["session"] = presented
        message = await refused(impostor)
        assert "the worker name 'twin' is taken" in message
        assert "connected to server 'server-a'" in message
        assert "try again in" in message and "give each worker its own --name" in message
    # Nothing changed: the entry is the honest worker's, and so are the jobs.
    assert listed(await workers(b)) == [("twin", "online", 3)]
    job = await submit(a)
    [order] = await honest.receive_jobs(1)
    assert (await honest.finish(order, "mine"))["ok"] is True
    done = await fetch(b, job["id"])
    assert (done["state"], done["worker"], done["result"]) == ("succeeded", "twin", "mine")


async def test_the_worker_presenting_its_session_is_let_in_through_another_server(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    a, b = two_servers
    old = await a.worker("w1", capacity=2)
    assert old.welcome is not None
    job = await submit(a)
    [order] = await old.receive_jobs(1)
    # The network to A failed; A still counts the old connection as live.
    lease = {"job_id": order["job_id"], "token": order["token"]}
    back = b.fake("w1", capacity=2, running=[lease])
    back.hello["session"] = old.welcome["session"]
    welcome = await back.connect()
    assert welcome["server"] == "server-b" and welcome["stale"] == []
    assert welcome["session"] != old.welcome["session"]

    # A hears at last that the old connection ended: the name and the lease stay the
    # worker's on B.
    await old.close()
    for _ in range(100):
        if a.app.state.hub.dispatcher.get("w1") is None:
            break
        await asyncio.sleep(0.05)
    await asyncio.sleep(0.5)  # beyond the disconnect grace, had A expired the lease
    assert listed(await workers(a)) == [("w1", "online", 2)]
    impostor = a.fake("w1")
    assert "connected to server 'server-b'" in await refused(impostor)
    assert (await back.finish(order, "kept"))["ok"] is True
    done = await fetch(a, job["id"])
    assert (done["state"], done["attempt"], done["result"]) == ("succeeded", 1, "kept")


async def test_a_worker_back_from_another_server_replaces_its_stale_connection_here(
    two_servers: tuple[LiveServer, LiveServer],
) -> None:
    # The worker moved from A to B (A has not noticed its old connection is dead), then
    # came back to A presenting the session B gave it: it holds the name, so A lets it in
    # in place of its stale connection rather than refusing it for good.
    a, b = two_servers
    first = await a.worker("w1", capacity=2)
    assert first.welcome is not None
    moved = b.fake("w1", capacity=2)
    moved.hello["session"] = first.welcome["session"]
    welcome_b = await moved.connect()
    back = a.fake("w1", capacity=2)
    back.hello["session"] = welcome_b["session"]
    welcome_a = await back.connect()
    assert welcome_a["server"] == "server-a"
    assert (await first.receive("error"))["message"] == REPLACED
    assert listed(await workers(b)) == [("w1", "online", 2)]
    # Its connection to B is dead; once B has noticed, B has no w1 to hand the job to (until
    # then B could, and the job would wait for that lease to expire, as after any loss).
    await moved.close()
    async with asyncio.timeout(5):
        while b.app.state.hub.dispatcher.get("w1") is not None:  # noqa: ASYNC110 (a dict)
            await asyncio.sleep(0.01)
    job = await submit(b)
    [order] = await back.receive_jobs(1)
    assert (await back.finish(order, "here"))["ok"] is True
    done = await fetch(b, job["id"])
    assert (done["state"], done["result"]) == ("succeeded", "here")
    # An impostor presenting the session B gave, now replaced, is refused.
    impostor = a.fake("w1")
    impostor.hello["session"] = welcome_b["session"]
    assert "is taken" in await refused(impostor)
