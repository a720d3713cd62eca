"""Long-lived responses stay inside common proxy timeouts: capped long polls, SSE keep-alives."""

from __future__ import annotations

import asyncio

import httpx
import pytest
from fastapi import FastAPI

from rota.jobs import Job
from rota.server.api.jobs import MAX_WAIT_S
from rota.server.state import Hub
from rota.store.base import Store
from tests.server.conftest import StartServer
from tests.server.test_api_submit import JOBS


@pytest.mark.parametrize("asked_s", [60, 3600])
async def test_a_long_poll_longer_than_the_maximum_waits_the_maximum(
    app: FastAPI, client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch, asked_s: int
) -> None:
    hub: Hub = app.state.hub
    waited: list[float] = []
    real_wait = hub.waiters.wait_finished

    async def record(store: Store, job_id: str, wait_s: float) -> Job:
        waited.append(wait_s)
        return await real_wait(store, job_id, 0)

    monkeypatch.setattr(hub.waiters, "wait_finished", record)
    job = (await client.post(JOBS, json={"task": "rota.echo"})).json()
    response = await client.get(f"{JOBS}/{job['id']}/result", params={"wait": asked_s})
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "pending"
    assert waited == [MAX_WAIT_S] and MAX_WAIT_S <= 30


async def test_an_idle_event_stream_sends_keep_alive_comments(start_server: StartServer) -> None:
    server = await start_server(events_keepalive_s=0.2)
    lines: list[str] = []

    async def read() -> None:
        async with server.http.stream("GET", "/api/v1/events") as response:
            assert response.status_code == 200
            async for line in response.aiter_lines():
                lines.append(line)
                if lines.count(": keep-alive") >= 2:
                    return

    async with asyncio.timeout(30):
        await read()
    assert lines[0].startswith("retry:")
    assert "event: hello" in lines


def test_the_keep_alive_interval_is_a_setting() -> None:
    from rota.settings import load_settings

    settings = load_settings(environ={"ROTA_EVENTS_KEEPALIVE_S": "5"})
    assert settings.server.events_keepalive_s == 5.0
