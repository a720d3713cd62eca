"""serve(): announces the real port, serves, stops on SIGTERM and leaves the store intact."""

from __future__ import annotations

import asyncio
import os
import re
import signal
import ssl
from pathlib import Path

import httpx
import pytest
import trustme

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


async def test_serve_speaks_https_with_the_tls_settings(
    make_settings: MakeSettings, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    authority = trustme.CA()
    certificate = authority.issue_cert("127.0.0.1")
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "key.pem"
    certificate.private_key_pem.write_to_path(str(keyfile))
    certificate.cert_chain_pems[0].write_to_path(str(certfile))
    serving = asyncio.create_task(
        serve(make_settings(port=0, certfile=str(certfile), keyfile=str(keyfile)))
    )
    announced = re.compile(r"^Rota server on https://127\.0\.0\.1:(\d+) ", re.M)
    match = None
    for _ in range(500):
        match = announced.search(capsys.readouterr().err)
        if match or serving.done():
            break
        await asyncio.sleep(0.01)
    assert match is not None, "the server never announced itself on https"
    context = ssl.create_default_context()
    authority.configure_trust(context)
    url = f"https://127.0.0.1:{match.group(1)}"
    try:
        async with httpx.AsyncClient(base_url=url, verify=context) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 10)
