"""The Python client checks values with rota.values before it sends anything."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rota import AsyncClient
from rota.errors import InvalidInput, InvalidValue, RotaError


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


class UrlRecorder:
    """A transport that answers every request with a 404 and keeps the URLs asked for."""

    def __init__(self) -> None:
        self.urls: list[str] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.urls.append(str(request.url))
        error = {"error": {"type": "NotFound", "message": "no such thing"}}
        return httpx.Response(404, json=error)


async def test_an_id_or_name_is_always_one_segment_of_the_path() -> None:
    # `rota jobs cancel ../schedules/nightly` used to send DELETE /api/v1/schedules/nightly,
    # and removed the schedule.
    urls = UrlRecorder()
    async with AsyncClient("http://rota.test", transport=httpx.MockTransport(urls)) as client:
        for call in (
            client.cancel("..%2Fx"),
            client.get_job(".."),
            client.get_job("x?state=running"),
            client.get_job("x#y"),
            client.delete_schedule("."),
            client.pause_schedule("a b"),
        ):
            with pytest.raises(RotaError):
                await call
    assert urls.urls == [
        "http://rota.test/api/v1/jobs/..%252Fx",
        "http://rota.test/api/v1/jobs/%2E%2E",
        "http://rota.test/api/v1/jobs/x%3Fstate%3Drunning",
        "http://rota.test/api/v1/jobs/x%23y",
        "http://rota.test/api/v1/schedules/%2E",
        "http://rota.test/api/v1/schedules/a%20b/pause",
    ]


@pytest.mark.parametrize(
    ("call", "message"),
    [
        (lambda c: c.cancel("../schedules/nightly"), r"^job id '\.\./schedules/nightly': "),
        (lambda c: c.get_job("x/events"), r"^job id 'x/events': .*'/'"),
        (lambda c: c.drain("w/1"), r"^worker name 'w/1': "),
        (lambda c: c.get_schedule("a/b"), r"^schedule 'a/b': "),
        (lambda c: c.get_job(""), r"^job id: must not be empty"),
        (lambda c: c.get_job("\udcff"), r"^job id: text contains a lone surrogate"),
        (lambda c: c.events("a\x00"), r"^job id: text contains a NUL"),
        (lambda c: c.list_jobs(queue="q\udcff"), r"^queue: text contains a lone surrogate"),
        (lambda c: c.list_jobs(q="\x00"), r"^q: text contains a NUL"),
    ],
)
async def test_an_id_name_or_query_no_url_can_carry_is_refused_before_sending(
    call: Any, message: str
) -> None:
    urls = UrlRecorder()
    async with AsyncClient("http://rota.test", transport=httpx.MockTransport(urls)) as client:
        with pytest.raises(InvalidInput, match=message):
            await call(client)
    assert urls.urls == []
