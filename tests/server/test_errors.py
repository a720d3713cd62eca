"""The server's answers to failures, over a real socket: a 500 leaves the connection usable, and
a client's mistake (going away mid-body) is never logged as an error."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Iterator

import httpx
import pytest

from rota.store.base import Store
from tests.server.conftest import StartServer


@pytest.fixture
def server_log(caplog: pytest.LogCaptureFixture) -> Iterator[pytest.LogCaptureFixture]:
    """Capture rota's records at DEBUG, and uvicorn's too (uvicorn does not propagate)."""
    caplog.set_level(logging.DEBUG, logger="rota.server")
    uvicorn_logger = logging.getLogger("uvicorn")
    uvicorn_logger.addHandler(caplog.handler)
    try:
        yield caplog
    finally:
        uvicorn_logger.removeHandler(caplog.handler)


def errors(log: pytest.LogCaptureFixture) -> list[logging.LogRecord]:
    return [record for record in log.records if record.levelno >= logging.ERROR]


async def test_after_a_500_the_same_connection_serves_the_next_request(
    start_server: StartServer,
    store: Store,
    monkeypatch: pytest.MonkeyPatch,
    server_log: pytest.LogCaptureFixture,
) -> None:
    server = await start_server()

    async def broken() -> set[str]:
        raise RuntimeError("the store broke")

    monkeypatch.setattr(store, "known_tasks", broken)
    limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
    async with httpx.AsyncClient(base_url=server.url, limits=limits, timeout=10) as http:
        failed = await http.get("/api/v1/tasks")
        assert failed.status_code == 500
        assert failed.json() == {
            "error": {"type": "InternalError", "message": "the server failed; its log says why"}
        }
        assert failed.headers.get("connection") != "close"
        again = await http.get("/api/v1/queues")
        assert again.status_code == 200
        assert again.extensions["network_stream"] is failed.extensions["network_stream"]
    [logged] = errors(server_log)  # once, with its traceback: a 500 is a bug of ours
    assert logged.name == "rota.server" and logged.exc_info is not None
    assert "GET '/api/v1/tasks'" in logged.getMessage()


async def test_a_client_gone_mid_body_is_not_logged_as_an_error(
    start_server: StartServer, server_log: pytest.LogCaptureFixture
) -> None:
    server = await start_server()
    port = int(server.url.rsplit(":", 1)[1])
    for _ in range(3):
        _, writer = await asyncio.open_connection("127.0.0.1", port)
        writer.write(
            b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
            b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
            b'{"task": "rota.echo", "args": ['
        )
        await writer.drain()
        writer.close()
        await writer.wait_closed()

    def gone() -> list[logging.LogRecord]:
        return [r for r in server_log.records if "the client went away" in r.getMessage()]

    async with asyncio.timeout(10):
        while len(gone()) < 3 and not errors(server_log):  # noqa: ASYNC110 (log records)
            await asyncio.sleep(0.01)
    assert errors(server_log) == []
    assert all(record.levelno == logging.DEBUG and not record.exc_info for record in gone())
    assert (await server.http.get("/healthz")).status_code == 200
