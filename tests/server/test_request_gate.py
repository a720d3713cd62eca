"""A web page cannot drive the API: bodies must be JSON, Host must be a name the server
answers to, and a foreign Origin may not change anything nor open the worker socket."""

from __future__ import annotations

import asyncio
import re

import pytest

from rota.protocol import WEBSOCKET_PATH
from rota.server.request_gate import AllowedHosts, split_authority
from tests.server.conftest import LiveServer, StartServer
from tests.server.test_api_submit import JOBS, assert_error
from tests.server.test_api_submit import stored_count as submitted_count

SCHEDULES = "/api/v1/schedules"
EVIL = "http://evil.example"


async def stored_count(server: LiveServer) -> int:
    return await submitted_count(server.http)


@pytest.fixture
async def server(start_server: StartServer) -> LiveServer:
    return await start_server(strict_tasks=False)


@pytest.mark.parametrize(
    "headers",
    [{"content-type": "text/plain"}, {"content-type": "application/x-www-form-urlencoded"}, {}],
    ids=["text/plain", "a form", "no content-type"],
)
async def test_a_body_that_is_not_json_is_refused_on_the_lean_submit_path(
    server: LiveServer, headers: dict[str, str]
) -> None:
    body = b'{"task": "rota.echo"}'
    response = await server.http.post(JOBS, content=body, headers=headers)
    assert_error(response, 415, "UnsupportedMediaType", "Content-Type: application/json")
    assert await stored_count(server) == 0


async def test_a_body_that_is_not_json_is_refused_on_every_other_route(server: LiveServer) -> None:
    job = (await server.http.post(JOBS, json={"task": "rota.echo", "delay": 60})).json()
    plain = {"content-type": "text/plain"}
    schedule = b'{"task": "rota.echo", "every": 60}'
    refused = [
        await server.http.post(SCHEDULES, content=schedule, headers=plain),
        await server.http.patch(f"{JOBS}/{job['id']}", content=b'{"priority": 9}', headers=plain),
        await server.http.put(f"{SCHEDULES}/nightly", content=schedule, headers=plain),
        await server.http.request("DELETE", f"{JOBS}/{job['id']}", content=b"{}", headers=plain),
    ]
    for response in refused:
        assert_error(response, 415, "UnsupportedMediaType", "text/plain")
    assert (await server.http.get(f"{JOBS}/{job['id']}")).json()["priority"] == job["priority"]
    assert (await server.http.get(f"{JOBS}/{job['id']}")).json()["state"] == "pending"
    assert (await server.http.get(SCHEDULES)).json()["schedules"] == []


async def test_json_with_a_charset_and_bodiless_requests_pass(server: LiveServer) -> None:
    typed = {"content-type": "Application/JSON; charset=utf-8"}
    response = await server.http.post(JOBS, content=b'{"task": "rota.echo"}', headers=typed)
    assert response.status_code == 201
    delayed = (await server.http.post(JOBS, json={"task": "rota.echo", "delay": 60})).json()
    cancelled = await server.http.delete(f"{JOBS}/{delayed['id']}")  # no body, no type
    assert cancelled.status_code == 200


async def test_a_calendar_import_may_send_the_file_itself(server: LiveServer) -> None:
    ics = b"BEGIN:VCALENDAR\r\nVERSION:2.0\r\nPRODID:-//t//t//EN\r\nEND:VCALENDAR\r\n"
    url = "/api/v1/calendars/home/import"
    sent = await server.http.post(url, content=ics, headers={"content-type": "text/calendar"})
    assert sent.status_code == 200
    plain = await server.http.post(url, content=ics, headers={"content-type": "text/plain"})
    assert_error(plain, 415, "UnsupportedMediaType")


@pytest.mark.parametrize("host", ["evil.example", "evil.example:8077", "rota.test.evil.example"])
async def test_a_host_the_server_does_not_answer_to_is_refused(
    server: LiveServer, host: str
) -> None:
    for method, path, extra in [("GET", JOBS, {}), ("POST", JOBS, {"json": {"task": "rota.echo"}})]:
        response = await server.http.request(method, path, headers={"host": host}, **extra)
        assert_error(response, 400, "HostNotAllowed", "server.allowed_hosts")
    assert (await server.http.get("/", headers={"host": host})).status_code == 400
    assert await stored_count(server) == 0


@pytest.mark.parametrize(
    "host", ["localhost", "LOCALHOST:8077", "127.0.0.1:1", "[::1]:8077", "10.1.2.3", "[fe80::1]"]
)
async def test_loopback_names_and_addresses_are_always_answered(
    server: LiveServer, host: str
) -> None:
    assert (await server.http.get(JOBS, headers={"host": host})).status_code == 200


async def test_configured_hosts_and_domains_are_answered(start_server: StartServer) -> None:
    server = await start_server(allowed_hosts="rota.example.com,.corp.example")
    for host in ["rota.example.com", "rota.example.com.:443", "corp.example", "a.b.corp.example"]:
        assert (await server.http.get(JOBS, headers={"host": host})).status_code == 200, host
    for host in ["example.com", "evilcorp.example", "rota.example.com.evil"]:
        response = await server.http.get(JOBS, headers={"host": host})
        assert_error(response, 400, "HostNotAllowed")


async def test_any_host_is_answered_with_a_star(start_server: StartServer) -> None:
    server = await start_server(allowed_hosts=["*"])
    assert (await server.http.get(JOBS, headers={"host": "evil.example"})).status_code == 200


@pytest.mark.parametrize("origin", [EVIL, "null", "http://localhost.evil.example", "file://"])
async def test_a_foreign_origin_may_not_change_anything(server: LiveServer, origin: str) -> None:
    headers = {"origin": origin}
    job = (await server.http.post(JOBS, json={"task": "rota.echo", "delay": 60})).json()
    refused = [
        await server.http.post(JOBS, json={"task": "rota.echo"}, headers=headers),
        await server.http.delete(f"{JOBS}/{job['id']}", headers=headers),
        await server.http.delete(f"{SCHEDULES}/nightly", headers=headers),
    ]
    for response in refused:
        assert_error(response, 403, "OriginNotAllowed", "server.allowed_hosts")
    assert (await server.http.get(f"{JOBS}/{job['id']}")).json()["state"] == "pending"
    assert await stored_count(server) == 1
    # Reads are not refused: a page of another origin cannot read their answers anyway.
    assert (await server.http.get(JOBS, headers=headers)).status_code == 200


async def test_the_servers_own_pages_and_allowed_origins_may_change_things(
    start_server: StartServer,
) -> None:
    server = await start_server(allowed_hosts=["rota.example.com"])
    port = server.url.rsplit(":", 1)[1]
    allowed: list[dict[str, str]] = [
        {"origin": server.url},  # the dashboard
        {"origin": "https://rota.example.com"},  # a proxy's public name
        {"origin": "http://localhost:3000"},
        {"origin": "https://rota.example.com:8443", "host": "rota.example.com"},
    ]
    for headers in allowed:
        response = await server.http.post(JOBS, json={"task": "rota.echo"}, headers=headers)
        assert response.status_code == 201, headers
    # The same host on another port is another origin (another program of that machine).
    other_port = {"origin": "http://192.0.2.7", "host": f"192.0.2.7:{port}"}
    response = await server.http.post(JOBS, json={"task": "rota.echo"}, headers=other_port)
    assert_error(response, 403, "OriginNotAllowed")


async def handshake(server: LiveServer, **headers: str) -> tuple[int, bytes]:
    """Send a WebSocket handshake to the worker socket; return the status and the body."""
    host, port = server.url.removeprefix("http://").rsplit(":", 1)
    reader, writer = await asyncio.open_connection(host, int(port))
    lines = [
        f"GET {WEBSOCKET_PATH} HTTP/1.1",
        *(f"{name}: {value}" for name, value in {"Host": f"{host}:{port}", **headers}.items()),
        "Upgrade: websocket",
        "Connection: Upgrade",
        "Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==",
        "Sec-WebSocket-Version: 13",
    ]
    writer.write(("\r\n".join(lines) + "\r\n\r\n").encode())
    try:
        async with asyncio.timeout(5):
            head = await reader.readuntil(b"\r\n\r\n")
            status = int(head.split(b" ", 2)[1])
            length = re.search(rb"(?i)content-length: *(\d+)", head)
            body = await reader.readexactly(int(length.group(1))) if length else b""
    finally:
        writer.close()
    return status, body


async def test_a_foreign_origin_may_not_open_the_worker_socket(server: LiveServer) -> None:
    status, body = await handshake(server, Origin=EVIL)
    assert status == 403 and b"OriginNotAllowed" in body
    status, body = await handshake(server, Host="evil.example")
    assert status == 400 and b"HostNotAllowed" in body
    assert (await handshake(server, Origin=server.url))[0] == 101  # the server's own pages
    assert (await handshake(server))[0] == 101  # programs send no Origin
    worker = await server.worker("w1")
    assert worker.welcome is not None


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("example.com", ("example.com", None)),
        ("Example.COM.:8077", ("example.com", 8077)),
        ("[::1]:80", ("::1", 80)),
        ("[::1]", ("::1", None)),
        ("::1", None),
        ("[example.com]", None),
        ("a b", None),
        ("host:port", None),
        ("host:99999", None),
        ("", None),
    ],
)
def test_host_headers_are_split_or_refused_as_malformed(
    value: str, expected: tuple[str, int | None] | None
) -> None:
    assert split_authority(value) == expected


def test_the_default_hosts_are_the_bound_host_and_the_machines_name() -> None:
    hosts = AllowedHosts.of([], bound_host="0.0.0.0", machine_name="Box")
    assert hosts.names == {"localhost", "127.0.0.1", "::1", "box"}
    named = AllowedHosts.of([], bound_host="rota.lan", machine_name="box")
    assert named.allows("rota.lan") and named.allows("box") and not named.allows("other")
    configured = AllowedHosts.of(["[2001:db8::1]"], bound_host="rota.lan", machine_name="box")
    assert configured.allows("2001:db8::1") and not configured.allows("box")
