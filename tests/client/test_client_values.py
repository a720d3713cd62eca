"""The Python client checks values with rota.values before it sends anything."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rota import AsyncClient
from rota.errors import InvalidInput, InvalidValue


class Recorder:
    """A transport that answers every request with an empty job and keeps the bodies."""

    def __init__(self) -> None:
        self.bodies: list[bytes] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.bodies.append(request.content)
        return httpx.Response(201, json={"id": "j", "state": "pending"})


@pytest.fixture
def recorder() -> Recorder:
    return Recorder()


@pytest.fixture
async def client(recorder: Recorder) -> Any:
    async with AsyncClient("http://rota.test", transport=httpx.MockTransport(recorder)) as made:
        yield made


async def test_bad_values_are_refused_before_sending(
    client: AsyncClient, recorder: Recorder
) -> None:
    with pytest.raises(InvalidValue, match=r"^args\[0\]: string contains a lone surrogate"):
        await client.submit("rota.echo", ["a\udcffb"])
    with pytest.raises(InvalidValue, match=r"^kwargs\.x: integer .* outside"):
        await client.submit("rota.echo", [], {"x": 2**63})
    with pytest.raises(InvalidValue, match=r"^jobs\[1\]\.args\[0\]: a value of type set"):
        await client.submit_many([{"task": "rota.echo"}, {"task": "rota.echo", "args": [{1}]}])
    deep: Any = 1
    for _ in range(100):
        deep = {"d": deep}
    with pytest.raises(InvalidValue, match=r"^kwargs\.k\.d\.d.*: nested deeper than 64"):
        await client.update("j", kwargs={"k": deep})
    with pytest.raises(InvalidValue, match=r"^args\[0\]: a key of type int"):
        await client.add_schedule("s", "rota.echo", {1: "one"}, interval=60)
    with pytest.raises(InvalidValue, match=r"^args\[0\]: nan is not a JSON number"):
        await client.update_schedule("s", args=[float("nan")])
    assert recorder.bodies == []


async def test_python_values_are_sent_as_plain_json(
    client: AsyncClient, recorder: Recorder
) -> None:
    await client.submit("rota.echo", [(1, 2)], {"t": ("a",)})
    assert json.loads(recorder.bodies[0])["args"] == [[1, 2]]


async def test_other_fields_reach_the_server_to_be_judged(
    client: AsyncClient, recorder: Recorder
) -> None:
    """Text that UTF-8 cannot encode goes as an ASCII escape: the server names the field."""
    await client.submit("rota.echo", idempotency_key="k\ud800")
    assert b'"idempotency_key":"k\\ud800"' in recorder.bodies[0]
    with pytest.raises(InvalidInput, match="cannot be sent as JSON"):
        await client.submit_many([{"task": "rota.echo", "priority": float("nan")}])
