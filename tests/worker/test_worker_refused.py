"""A worker the server refuses for good stops with the server's reason; one whose connection
merely broke reconnects, presenting the session its last welcome gave it."""

from __future__ import annotations

from collections.abc import Callable

import pytest
from worker_fake_server import FakeServer, WorkerRun

from rota.errors import InvalidInput, WorkerRefused
from rota.protocol import (
    CLOSE_FORBIDDEN,
    CLOSE_NAME_TAKEN,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNSUPPORTED_VERSION,
)
from rota.worker.connection import Connector

Start = Callable[..., WorkerRun]
PROMPTLY_S = 5.0
"""Well within a worker's backoff of reconnecting for ever, well beyond a refusal's time."""


async def refused(run: WorkerRun) -> str:
    """Return the message of the WorkerRefused that ended the run."""
    with pytest.raises(WorkerRefused) as raised:
        await run.finish(PROMPTLY_S)
    return raised.value.message


@pytest.mark.parametrize(
    ("code", "text"),
    [
        (CLOSE_NAME_TAKEN, "the worker name 'w1' is taken: give each worker its own --name"),
        (CLOSE_UNSUPPORTED_VERSION, "protocol version 3 is not supported; this server speaks 4"),
        (CLOSE_UNAUTHENTICATED, "the token was revoked"),
        (CLOSE_FORBIDDEN, "a read token cannot connect a worker"),
    ],
)
async def test_a_hello_refused_for_good_ends_the_worker_with_the_reason(
    server: FakeServer, start_worker: Start, code: int, text: str
) -> None:
    server.refusal = (code, text)
    run = start_worker()
    message = await refused(run)
    url = f"ws://127.0.0.1:{server.port}/api/v1/workers/connect"
    assert message == f"{url} refused this worker: {text}"
    assert len(server.hellos) == 1  # no second try


async def test_a_close_for_good_without_an_error_message_ends_the_worker_too(
    server: FakeServer, start_worker: Start
) -> None:
    server.refusal = (CLOSE_UNAUTHENTICATED, None)
    assert (await refused(start_worker())).endswith(f"close code {CLOSE_UNAUTHENTICATED}")


async def test_a_session_closed_for_good_later_ends_the_worker(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker()
    await server.wait_connected()
    await server.send({"type": "error", "message": "the token was revoked"})
    await server.close(CLOSE_UNAUTHENTICATED, "the token was revoked")
    assert (await refused(run)).endswith("refused this worker: the token was revoked")


@pytest.mark.parametrize("status", [401, 403])
async def test_a_handshake_refused_with_401_or_403_ends_the_worker(
    server: FakeServer, start_worker: Start, status: int
) -> None:
    body = '{"error": {"type": "Unauthenticated", "message": "a worker token is needed"}}'
    server.http_refusal = (status, body)
    message = await refused(start_worker())
    assert f"refused this worker: HTTP {status}" in message
    assert message.endswith(": a worker token is needed")


async def test_other_closes_are_transient_and_the_worker_reconnects(
    server: FakeServer, start_worker: Start
) -> None:
    server.refusal = (1011, "server error")
    run = start_worker()
    await server.wait_for(lambda: len(server.hellos) >= 2, what="a second hello")
    server.refusal = None
    await server.wait_connected(3)
    assert not run.task.done()
    assert any("lost connection" in line and "server error" in line for line in run.lines)


async def test_a_worker_presents_its_last_session_when_it_reconnects(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker()
    first = await server.wait_connected()
    assert first.get("session") is None
    await server.drop()
    second = await server.wait_connected(2)
    assert second["session"] == "session-1"
    await server.drop()
    third = await server.wait_connected(3)
    assert third["session"] == "session-2"


def test_a_token_with_a_line_ending_is_trimmed_and_a_control_character_refused_unseen() -> None:
    # Not retried for ever, printing the secret each time: refused before any connection.
    secret = "rota_0123456789ab_" + "k" * 43
    connector = Connector(["http://127.0.0.1:1"], token=f"{secret}\r\n")
    assert connector._headers == {"Authorization": f"Bearer {secret}"}
    with pytest.raises(InvalidInput) as raised:
        Connector(["http://127.0.0.1:1"], token=f"{secret}\r\nX-Evil: 1")
    assert secret not in raised.value.message
