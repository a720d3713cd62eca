"""rota.http cannot be used as a proxy into the worker's network: a job reaches only the
hosts the worker's --allow-http names, and no redirect leads it elsewhere."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Callable

import pytest
from worker_fake_server import FakeServer, WorkerRun, job

Start = Callable[..., WorkerRun]
SECRET = "internal-secret-body"


@pytest.fixture
async def internal_port() -> AsyncIterator[int]:
    """A loopback HTTP server, standing for an internal service: /secret answers SECRET;
    /to/<url> redirects there."""

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        path = head.split(" ")[1]
        if path.startswith("/to/"):
            reply = b"HTTP/1.1 302 Found\r\nLocation: " + path[4:].encode()
            reply += b"\r\nContent-Length: 0\r\nConnection: close\r\n\r\n"
        else:
            reply = f"HTTP/1.1 200 OK\r\nContent-Length: {len(SECRET)}\r\n"
            reply += f"Connection: close\r\n\r\n{SECRET}"
            reply = reply.encode()
        writer.write(reply)
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    yield server.sockets[0].getsockname()[1]
    server.close()
    await server.wait_closed()


def _received_text(server: FakeServer) -> str:
    return repr(server.received)


async def test_http_is_refused_on_a_worker_that_allows_no_hosts(
    server: FakeServer, start_worker: Start, internal_port: int
) -> None:
    start_worker()
    await server.wait_connected()
    await server.push_jobs(job("j1", "rota.http", f"http://127.0.0.1:{internal_port}/secret"))
    failure = await server.wait_message("failure", "j1")
    assert failure["retryable"] is False
    assert "task 'rota.http' is refused" in failure["error"]
    assert "--allow-http" in failure["error"]
    assert SECRET not in _received_text(server)


async def test_http_to_an_internal_address_not_listed_is_refused(
    server: FakeServer, start_worker: Start, internal_port: int
) -> None:
    start_worker(allow_http="*.example.com,localhost")
    await server.wait_connected()
    await server.push_jobs(job("j1", "rota.http", f"http://127.0.0.1:{internal_port}/secret"))
    failure = await server.wait_message("failure", "j1")
    assert failure["retryable"] is False
    assert "may not call '127.0.0.1'" in failure["error"]
    assert "--allow-http" in failure["error"]
    assert SECRET not in _received_text(server)


async def test_a_redirect_cannot_lead_to_a_host_not_listed(
    server: FakeServer, start_worker: Start, internal_port: int
) -> None:
    start_worker(allow_http="localhost")
    await server.wait_connected()
    secret_url = f"http://127.0.0.1:{internal_port}/secret"
    await server.push_jobs(
        job("j1", "rota.http", f"http://localhost:{internal_port}/to/{secret_url}")
    )
    failure = await server.wait_message("failure", "j1")
    assert failure["retryable"] is False
    assert "may not call '127.0.0.1'" in failure["error"]
    assert SECRET not in _received_text(server)


async def test_http_reaches_a_listed_host_and_follows_redirects_among_listed_ones(
    server: FakeServer, start_worker: Start, internal_port: int
) -> None:
    start_worker(allow_http="localhost,127.0.0.1")
    await server.wait_connected()
    secret_url = f"http://127.0.0.1:{internal_port}/secret"
    await server.push_jobs(
        job("j1", "rota.http", f"http://localhost:{internal_port}/to/{secret_url}")
    )
    result = await server.wait_message("result", "j1")
    assert result["result"]["status"] == 200
    assert result["result"]["body"] == SECRET
