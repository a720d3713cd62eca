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

from rota.errors import InvalidInput
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
    # A TLS 1.2 client is offered an AEAD suite, not uvicorn's default CBC and SHA-1 ones.
    old_client = ssl.create_default_context()
    authority.configure_trust(old_client)
    old_client.maximum_version = ssl.TLSVersion.TLSv1_2
    try:
        async with httpx.AsyncClient(base_url=url, verify=context) as http:
            assert (await http.get("/healthz")).json() == {"status": "ok"}
        async with httpx.AsyncClient(base_url=url, verify=old_client) as http:
            response = await http.get("/healthz")
            assert response.json() == {"status": "ok"}
            stream = response.extensions["network_stream"]
            cipher = stream.get_extra_info("ssl_object").cipher()
            assert cipher[1] == "TLSv1.2" and ("GCM" in cipher[0] or "CHACHA20" in cipher[0])
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 10)


async def test_serve_refuses_a_key_that_is_not_the_certificates_before_opening_the_store(
    make_settings: MakeSettings, db_path: str, tmp_path: Path
) -> None:
    authority = trustme.CA()
    certfile, keyfile = tmp_path / "cert.pem", tmp_path / "other-key.pem"
    authority.issue_cert("127.0.0.1").cert_chain_pems[0].write_to_path(str(certfile))
    authority.issue_cert("127.0.0.1").private_key_pem.write_to_path(str(keyfile))
    settings = make_settings(port=0, certfile=str(certfile), keyfile=str(keyfile))
    with pytest.raises(InvalidInput, match="is not the private key of the certificate"):
        await serve(settings)
    assert not await asyncio.to_thread(Path(db_path).exists)
