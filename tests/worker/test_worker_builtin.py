"""The built-in tasks, called directly and through a worker."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
from collections.abc import AsyncIterator, Callable, Iterator

import pytest
from worker_fake_server import FakeServer, WorkerRun, job

from rota.errors import TaskNotAllowed
from rota.tasks import builtin
from rota.tasks.builtin import builtin_registry
from rota.tasks.hosts import HostAllowlist, set_allowed_hosts

Start = Callable[..., WorkerRun]


def test_registry_has_the_builtins() -> None:
    registry = builtin_registry()
    assert {"rota.echo", "rota.sleep", "rota.sha256", "rota.http", "rota.shell"} <= set(
        registry.names()
    )
    shell, crash = registry.get("rota.shell"), registry.get("rota.crash")
    assert shell is not None and shell.needs_shell
    assert crash is not None and crash.needs_shell
    http = registry.get("rota.http")
    assert http is not None and http.needs_http


@contextlib.contextmanager
def allowing(*hosts: str) -> Iterator[None]:
    """Let rota.http called directly here reach these hosts, as a worker's list would."""
    token = set_allowed_hosts(HostAllowlist.parse(hosts))
    try:
        yield
    finally:
        token.var.reset(token)


def test_echo_returns_its_input() -> None:
    assert builtin.echo("hello") == "hello"
    assert builtin.echo(1, 2, x=3) == {"args": [1, 2], "kwargs": {"x": 3}}
    assert builtin.echo() == {"args": [], "kwargs": {}}


def test_sha256_matches_hashlib() -> None:
    assert builtin.sha256("Hello") == hashlib.sha256(b"Hello").hexdigest()
    assert builtin.sha256("héllo") == hashlib.sha256("héllo".encode()).hexdigest()


async def test_sleep_returns_seconds_and_refuses_nonsense() -> None:
    assert await builtin.sleep(0.01) == 0.01
    with pytest.raises(ValueError):
        await builtin.sleep(-1)


@pytest.fixture
async def http_url() -> AsyncIterator[str]:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        head = (await reader.readuntil(b"\r\n\r\n")).decode()
        length = 0
        for line in head.split("\r\n"):
            if line.lower().startswith("content-length:"):
                length = int(line.split(":")[1])
        body = await reader.readexactly(length)
        method = head.split(" ")[0]
        reply = f"{method} {body.decode()}".encode()
        writer.write(
            b"HTTP/1.1 201 Created\r\nX-Test: yes\r\nContent-Type: text/plain\r\n"
            + f"Content-Length: {len(reply)}\r\nConnection: close\r\n\r\n".encode()
            + reply
        )
        await writer.drain()
        writer.close()

    server = await asyncio.start_server(handle, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    yield f"http://127.0.0.1:{port}/"
    server.close()
    await server.wait_closed()


async def test_http_calls_a_url(http_url: str) -> None:
    with allowing("127.0.0.1"):
        response = await builtin.http(http_url, method="post", body={"a": 1})
    assert response["status"] == 201
    assert response["headers"]["x-test"] == "yes"
    assert response["body"] == 'POST {"a":1}'


async def test_http_raises_on_connection_errors(http_url: str) -> None:
    from worker_fake_server import free_port

    with allowing("127.0.0.1"), pytest.raises(Exception, match=r"(?i)connect"):
        await builtin.http(f"http://127.0.0.1:{free_port()}/", timeout_s=2)


async def test_http_called_outside_a_worker_calls_no_host(http_url: str) -> None:
    with pytest.raises(TaskNotAllowed, match="--allow-http"):
        await builtin.http(http_url)


async def test_shell_runs_a_command_and_raises_on_failure() -> None:
    result = await builtin.shell("echo out; echo err >&2")
    assert result == {"returncode": 0, "stdout": "out\n", "stderr": "err\n"}
    with pytest.raises(RuntimeError, match="exited with code 3: nope"):
        await builtin.shell("echo nope >&2; exit 3")
    with pytest.raises(TimeoutError):
        await builtin.shell("sleep 5", timeout_s=0.1)


async def test_shell_and_crash_are_refused_unless_allowed(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker()
    await server.wait_connected()
    await server.push_jobs(job("j1", "rota.shell", "echo hi"), job("j2", "rota.crash"))
    for job_id, name in (("j1", "rota.shell"), ("j2", "rota.crash")):
        failure = await server.wait_message("failure", job_id)
        assert failure["retryable"] is False
        assert f"task '{name}' is refused" in failure["error"]
        assert "--allow-shell" in failure["error"]


async def test_shell_runs_when_allowed(server: FakeServer, start_worker: Start) -> None:
    start_worker(allow_shell=True)
    await server.wait_connected()
    await server.push_jobs(job("j1", "rota.shell", "echo hi"))
    assert (await server.wait_message("result", "j1"))["result"]["stdout"] == "hi\n"


async def test_builtins_through_a_worker(server: FakeServer, start_worker: Start) -> None:
    start_worker()
    await server.wait_connected()
    await server.push_jobs(job("j1", "rota.sha256", "Hello"), job("j2", "rota.echo", 1, k="v"))
    digest = (await server.wait_message("result", "j1"))["result"]
    assert digest == hashlib.sha256(b"Hello").hexdigest()
    assert (await server.wait_message("result", "j2"))["result"] == {
        "args": [1],
        "kwargs": {"k": "v"},
    }
    await server.push_jobs(job("j3", "rota.fail", "on purpose"), job("j4", "rota.sleep", 0.05))
    assert (await server.wait_message("failure", "j3"))["error"] == "RuntimeError: on purpose"
    assert (await server.wait_message("result", "j4"))["result"] == 0.05
