"""Every connection has header, body and idle timeouts, and one client a limited number of
them; responses that last (the event stream, a long poll, the worker socket) are not cut."""

from __future__ import annotations

import asyncio
import contextlib
import json
import os
import signal
import time
from collections.abc import AsyncIterator

import pytest

from rota.server.main import serve
from tests.server.conftest import LiveServer, MakeSettings, StartServer
from tests.server.test_main import ANNOUNCEMENT

QUICK = {"header_timeout_s": 0.5, "body_timeout_s": 0.5, "idle_timeout_s": 0.5}
CLOSE_WITHIN_S = 5.0

Connection = tuple[asyncio.StreamReader, asyncio.StreamWriter]


def address(server: LiveServer) -> tuple[str, int]:
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    return host, int(port)


@contextlib.asynccontextmanager
async def raw_connections(server: LiveServer, count: int) -> AsyncIterator[list[Connection]]:
    """Open `count` TCP connections to the server; close what is left of them at the end."""
    host, port = address(server)
    opened = await asyncio.gather(*(asyncio.open_connection(host, port) for _ in range(count)))
    try:
        yield list(opened)
    finally:
        for _, writer in opened:
            writer.close()


async def answer_until_closed(reader: asyncio.StreamReader) -> bytes:
    """Return all the server sent before it closed the connection (a reset ends it too)."""
    received = b""
    with contextlib.suppress(ConnectionError):
        while chunk := await reader.read(65536):
            received += chunk
    return received


async def trickle(writer: asyncio.StreamWriter, head: bytes, drip: bytes) -> None:
    """Send `head`, then `drip` every 0.1 s, until the server closes the connection."""
    with contextlib.suppress(ConnectionError):
        writer.write(head)
        while not writer.is_closing():
            await asyncio.sleep(0.1)
            writer.write(drip)
            await writer.drain()


async def all_closed(connections: list[Connection], *, sending: bytes, drip: bytes) -> list[bytes]:
    """Trickle into every connection; return what each got once the server closed them all."""
    senders = [asyncio.create_task(trickle(writer, sending, drip)) for _, writer in connections]
    try:
        async with asyncio.timeout(CLOSE_WITHIN_S):
            return await asyncio.gather(*(answer_until_closed(reader) for reader, _ in connections))
    finally:
        for sender in senders:
            sender.cancel()


def refusal(answer: bytes) -> tuple[int, dict[str, str]]:
    head, _, body = answer.partition(b"\r\n\r\n")
    status = int(head.split(b" ", 2)[1])
    return status, json.loads(body)["error"]


async def test_500_idle_connections_are_closed_after_the_idle_timeout(
    start_server: StartServer,
) -> None:
    server = await start_server(**QUICK, max_connections_per_client=1000)
    started = time.monotonic()
    async with raw_connections(server, 500) as connections:
        async with asyncio.timeout(CLOSE_WITHIN_S):
            answers = await asyncio.gather(*(answer_until_closed(r) for r, _ in connections))
    assert answers == [b""] * 500  # closed without a word: they asked nothing
    assert time.monotonic() - started >= 0.4
    assert (await server.http.get("/healthz")).status_code == 200


async def test_a_connection_is_kept_while_it_is_used_within_the_idle_timeout(
    start_server: StartServer,
) -> None:
    server = await start_server(**QUICK)
    async with raw_connections(server, 1) as [(reader, writer)]:
        for _ in range(4):  # 1.2 s in all, each wait within the idle timeout
            await asyncio.sleep(0.3)
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
            assert head.startswith(b"HTTP/1.1 200")
            await reader.readexactly(int(head.split(b"content-length: ")[1].split(b"\r\n")[0]))
        assert await asyncio.wait_for(answer_until_closed(reader), CLOSE_WITHIN_S) == b""


async def test_slowloris_connections_are_closed_after_the_header_timeout(
    start_server: StartServer,
) -> None:
    server = await start_server(**{**QUICK, "idle_timeout_s": 30})
    head = b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\n"
    async with raw_connections(server, 100) as connections:
        answers = await all_closed(connections, sending=head, drip=b"X-Slow: 1\r\n")
    # A reset may overtake the 408 of a connection that kept sending; none was answered else.
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 408") for answer in answers)
    async with raw_connections(server, 1) as [(reader, writer)]:
        writer.write(head)  # and then nothing more
        answer = await asyncio.wait_for(answer_until_closed(reader), CLOSE_WITHIN_S)
    status, error = refusal(answer)
    assert (status, error["type"]) == (408, "RequestTimeout")
    assert "server.header_timeout_s" in error["message"]


@pytest.mark.parametrize(
    "request_line", [b"POST /api/v1/jobs", b"PATCH /api/v1/jobs/00000000000000000000000000"]
)
async def test_slow_bodies_are_closed_after_the_body_timeout(
    start_server: StartServer, request_line: bytes
) -> None:
    server = await start_server(**{**QUICK, "idle_timeout_s": 30, "header_timeout_s": 30})
    head = (
        request_line + b" HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: 1000\r\n\r\n["
    )
    async with raw_connections(server, 100) as connections:
        answers = await all_closed(connections, sending=head, drip=b" ")
    assert all(answer == b"" or answer.startswith(b"HTTP/1.1 408") for answer in answers)
    async with raw_connections(server, 1) as [(reader, writer)]:
        writer.write(head)
        answer = await asyncio.wait_for(answer_until_closed(reader), CLOSE_WITHIN_S)
    status, error = refusal(answer)
    assert (status, error["type"]) == (408, "RequestTimeout")
    assert "server.body_timeout_s" in error["message"]
    assert (await server.http.get("/api/v1/jobs")).json()["jobs"] == []


async def test_a_slow_request_within_the_timeouts_is_answered(start_server: StartServer) -> None:
    server = await start_server(header_timeout_s=1.5, body_timeout_s=1.5, idle_timeout_s=1.5)
    body = b'{"task": "rota.echo"}'
    head = (
        b"POST /api/v1/jobs HTTP/1.1\r\nHost: localhost\r\nContent-Type: application/json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    async with raw_connections(server, 1) as [(reader, writer)]:
        for part in [head[:20], head[20:], body[:5], body[5:]]:
            await asyncio.sleep(0.4)  # each part in time, the whole longer than one timeout
            writer.write(part)
        answer = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), 5)
    assert answer.startswith(b"HTTP/1.1 201")


async def test_the_event_stream_a_long_poll_and_the_worker_socket_outlive_the_timeouts(
    start_server: StartServer,
) -> None:
    server = await start_server(**QUICK, events_keepalive_s=0.2)
    worker = await server.worker("w1")
    job = (await server.http.post("/api/v1/jobs", json={"task": "rota.echo", "delay": 60})).json()
    started = time.monotonic()
    long_poll = asyncio.create_task(server.http.get(f"/api/v1/jobs/{job['id']}/result?wait=2"))
    comments = 0
    async with server.http.stream("GET", "/api/v1/events") as stream:
        async for line in stream.aiter_lines():
            comments += line.startswith(":")
            if time.monotonic() - started > 2.5:
                break
    assert comments >= 5  # still flowing long after every timeout
    assert (await long_poll).status_code < 500
    assert time.monotonic() - started >= 2.0
    submitted = await server.http.post("/api/v1/jobs", json={"task": "rota.echo"})
    [handed] = await worker.receive_jobs(1)
    assert handed["job_id"] == submitted.json()["id"]


async def test_a_client_over_its_connection_limit_is_refused(start_server: StartServer) -> None:
    server = await start_server(max_connections_per_client=30, idle_timeout_s=30)
    assert (await server.http.get("/healthz")).status_code == 200  # its pooled connection: 1
    async with raw_connections(server, 29) as held:
        async with raw_connections(server, 5) as over:
            async with asyncio.timeout(CLOSE_WITHIN_S):
                answers = [await answer_until_closed(reader) for reader, _ in over]
        for answer in answers:
            assert answer == b"" or refusal(answer)[0] == 503
        assert any(answers), "no refused connection was told why"
        _, error = refusal(next(answer for answer in answers if answer))
        assert "server.max_connections_per_client" in error["message"]
        assert (await server.http.get("/healthz")).status_code == 200  # held ones still serve
        for _, writer in held[:5]:
            writer.close()
        await asyncio.sleep(0.2)
        async with raw_connections(server, 5) as again:
            for reader, writer in again:
                writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
                assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")


async def test_worker_sockets_count_toward_the_limit_until_they_close(
    start_server: StartServer,
) -> None:
    server = await start_server(max_connections_per_client=3, idle_timeout_s=30)
    assert (await server.http.get("/healthz")).status_code == 200  # 1
    worker = await server.worker("w1")  # 2
    async with raw_connections(server, 2) as [_, (reader, _writer)]:  # 3, and one too many
        assert refusal(await asyncio.wait_for(answer_until_closed(reader), 5))[0] == 503
    await worker.close()
    await asyncio.sleep(0.2)
    async with raw_connections(server, 2) as connections:  # both fit again
        for reader, writer in connections:
            writer.write(b"GET /healthz HTTP/1.1\r\nHost: localhost\r\n\r\n")
            assert (await asyncio.wait_for(reader.readline(), 5)).startswith(b"HTTP/1.1 200")


async def test_rota_server_runs_with_the_timeouts(
    make_settings: MakeSettings, capsys: pytest.CaptureFixture[str]
) -> None:
    serving = asyncio.create_task(serve(make_settings(port=0, idle_timeout_s=0.3)))
    try:
        match = None
        for _ in range(500):
            match = ANNOUNCEMENT.search(capsys.readouterr().err)
            if match or serving.done():
                break
            await asyncio.sleep(0.01)
        assert match is not None, "the server never announced itself"
        reader, writer = await asyncio.open_connection("127.0.0.1", int(match.group(1)))
        assert await asyncio.wait_for(answer_until_closed(reader), CLOSE_WITHIN_S) == b""
        writer.close()
    finally:
        os.kill(os.getpid(), signal.SIGTERM)
        await asyncio.wait_for(serving, 10)
