"""serve(): announces the real port, serves, stops on SIGTERM and leaves the store intact."""

from __future__ import annotations

import asyncio
import os
import re
import signal

import httpx
import pytest

from rota.server.main import serve
from rota.store.factory import open_store
from tests.server.conftest import MakeSettings

ANNOUNCEMENT = re.compile(r"^Rota server on http://127\.0\.0\.1:(\d+) \(db: (.+)\)$", re.M)


async def test_serve_announces_the_bound_port_and_stops_on_sigterm(
    make_settings: MakeSettings, db_path: str, capsys: pytest.CaptureFixture[str]
) -> None:
    serving = asyncio.create_task(serve(make_settings(port=0)))
    match = None
    for _ in range(500):
        match = ANNOUNCEMENT.search(capsys.readouterr().err)
        if match or serving.done():
            break
        await asyncio.sleep(0.01)
    assert match is not None, "the server never announced itself"
    port = int(match.group(1))
    assert port > 0
    assert match.group(2) == db_path
    async with httpx.AsyncClient(base_url=f"http://127.0.0.1:{port}") as http:
        assert (await http.get("/healthz")).json() == {"status": "ok"}
        job = (await http.post("/api/v1/jobs", json={"task": "rota.echo"})).json()

    os.kill(os.getpid(), signal.SIGTERM)
    await asyncio.wait_for(serving, 10)

    # The store was closed cleanly: the job is there when the file is opened again.
    store = open_store(db_path)
    await store.open()
    try:
        assert (await store.get_job(job["id"])).task == "rota.echo"
    finally:
        await store.close()
