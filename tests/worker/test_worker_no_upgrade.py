"""A worker behind a proxy that drops the WebSocket upgrade says what is wrong and how to fix
it, instead of a bare HTTP status."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable

from rota.worker.connection import Connector

Answer = Callable[[asyncio.StreamReader, asyncio.StreamWriter], Awaitable[None]]


async def first_report(answer: Answer) -> list[str]:
    """Point a worker's connector at a loopback server that answers the handshake with
    `answer`; return what the connector reported, once it reported its first line."""
    server = await asyncio.start_server(answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    reports: list[str] = []
    reported = asyncio.Event()

    def report(line: str) -> None:
        reports.append(line)
        reported.set()

    connector = Connector([f"http://127.0.0.1:{port}"], report=report)
    async with server:
        connecting = asyncio.create_task(connector.connect())
        async with asyncio.timeout(30):
            await reported.wait()
        connecting.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await connecting
    return reports


async def test_a_plain_404_to_the_handshake_names_the_missing_upgrade() -> None:
    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")  # a proxy that sent the GET on without Upgrade
        writer.write(b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
        await writer.drain()
        writer.close()

    reports = await first_report(answer)
    assert "HTTP 404" in reports[0]
    assert "did not pass the upgrade" in reports[0] and "proxy_http_version" in reports[0]


async def test_a_handshake_refused_with_an_error_body_says_its_message() -> None:
    body = (
        b'{"error": {"type": "HostNotAllowed", "message": "this server does not answer to '
        b"the host 'rota.lan': add it to the setting server.allowed_hosts\"}}"
    )

    async def answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        await reader.readuntil(b"\r\n\r\n")
        writer.write(
            b"HTTP/1.1 400 Bad Request\r\nContent-Type: application/json\r\n"
            b"Content-Length: " + str(len(body)).encode() + b"\r\nConnection: close\r\n\r\n" + body
        )
        await writer.drain()
        writer.close()

    reports = await first_report(answer)
    assert "HTTP 400" in reports[0] and "server.allowed_hosts" in reports[0]
    assert "did not pass the upgrade" not in reports[0]
