"""The client sends reads and keyed submissions again after a lost connection or a 502/503/504,
and a submission sent twice is still one job."""

from __future__ import annotations

import json
from collections.abc import Callable

import httpx
import pytest

from rota import AsyncClient
from rota.client_retry import RetryPolicy, new_idempotency_key, new_idempotency_keys
from rota.errors import RotaError, ServerUnavailable
from tests.client.live import LiveServer

QUICK = RetryPolicy(attempts=4, base_s=0.01, max_s=0.02)
JOB = {"id": "j1", "task": "rota.echo", "state": "pending"}

Handler = Callable[[httpx.Request], httpx.Response]


def scripted(
    *steps: int | type[httpx.TransportError], body: object = JOB
) -> tuple[list[httpx.Request], httpx.MockTransport]:
    """Return the requests seen and a transport that answers each with the next step:
    a status code, or an httpx transport error to raise."""
    seen: list[httpx.Request] = []
    queue = list(steps)

    def handle(request: httpx.Request) -> httpx.Response:
        seen.append(request)
        step = queue.pop(0)
        if isinstance(step, int):
            return httpx.Response(step, json=body if step < 300 else None)
        raise step("lost", request=request)

    return seen, httpx.MockTransport(handle)


@pytest.mark.parametrize(
    "failure", [httpx.RemoteProtocolError, httpx.ReadTimeout, httpx.ConnectError, 502, 503, 504]
)
async def test_a_submission_is_sent_again_with_the_same_key(
    failure: int | type[httpx.TransportError],
) -> None:
    seen, transport = scripted(failure, failure, 201)
    async with AsyncClient("http://rota.test", transport=transport, retry=QUICK) as client:
        job = await client.submit("rota.echo", [1])
    assert job == JOB
    keys = {json.loads(request.content)["idempotency_key"] for request in seen}
    assert len(seen) == 3 and len(keys) == 1 and None not in keys


async def test_each_item_of_a_bulk_submission_gets_its_own_key_kept_across_retries() -> None:
    seen, transport = scripted(httpx.RemoteProtocolError, 201, body=[JOB, JOB, JOB])
    async with AsyncClient("http://rota.test", transport=transport, retry=QUICK) as client:
        await client.submit_many(
            [{"task": "rota.echo"}, {"task": "rota.echo", "idempotency_key": "mine"}, {"task": "x"}]
        )
    first, second = ([item["idempotency_key"] for item in json.loads(r.content)] for r in seen)
    assert first == second and first[1] == "mine" and len(set(first)) == 3


async def test_a_request_that_may_not_repeat_is_sent_once_unless_never_delivered() -> None:
    seen, transport = scripted(502)
    async with AsyncClient("http://rota.test", transport=transport, retry=QUICK) as client:
        with pytest.raises(RotaError, match="502"):
            await client.cancel("j1")
    assert len(seen) == 1
    seen, transport = scripted(httpx.ConnectError, 200)
    async with AsyncClient("http://rota.test", transport=transport, retry=QUICK) as client:
        await client.cancel("j1")
    assert len(seen) == 2


async def test_retries_end_and_the_last_failure_is_reported() -> None:
    seen, transport = scripted(*[httpx.ConnectError] * QUICK.attempts)
    async with AsyncClient("http://rota.test", transport=transport, retry=QUICK) as client:
        with pytest.raises(ServerUnavailable):
            await client.get_job("j1")
    assert len(seen) == QUICK.attempts


class LoseFirstAnswer(httpx.AsyncBaseTransport):
    """Deliver every request to the real server, but lose the answer to the first POST, as
    a proxy does when the server dies after committing and before answering."""

    def __init__(self) -> None:
        self._inner = httpx.AsyncHTTPTransport()
        self.lost = 0

    async def handle_async_request(self, request: httpx.Request) -> httpx.Response:
        response = await self._inner.handle_async_request(request)
        if request.method == "POST" and not self.lost:
            self.lost += 1
            await response.aread()
            return httpx.Response(502, request=request)
        return response

    async def aclose(self) -> None:
        await self._inner.aclose()


@pytest.mark.parametrize("bulk", [False, True])
async def test_an_answer_lost_after_commit_makes_no_second_job(
    live_server: LiveServer, bulk: bool
) -> None:
    transport = LoseFirstAnswer()
    async with AsyncClient(live_server.url, transport=transport, retry=QUICK) as client:
        if bulk:
            made = await client.submit_many([{"task": "rota.echo", "args": [n]} for n in range(5)])
        else:
            made = [await client.submit("rota.echo", ["once"])]
        listed = (await client.list_jobs(limit=100))["jobs"]
    assert transport.lost == 1
    assert sorted(job["id"] for job in listed) == sorted(job["id"] for job in made)


def test_bulk_keys_are_fresh_and_shaped_as_single_ones() -> None:
    keys = new_idempotency_keys(1000)
    assert len(set(keys)) == 1000
    single = new_idempotency_key()
    assert all(len(key) == len(single) and key.startswith("rota-client-") for key in keys)
    assert all(int(key.removeprefix("rota-client-"), 16) >= 0 for key in keys)
    assert new_idempotency_keys(0) == []


def test_keys_begin_with_the_time_so_later_ones_sort_after(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """A bulk's keys land at the end of the store's index of keys, not on random pages."""
    now_ns = [1_700_000_000_000_000_000]
    monkeypatch.setattr("rota.client_retry.time.time_ns", lambda: now_ns[0])
    first = new_idempotency_keys(500)
    now_ns[0] += 1_000_000  # a millisecond on
    later = [*new_idempotency_keys(500), new_idempotency_key()]
    assert max(first) < min(later)
    stamp = f"{1_700_000_000_000:012x}"
    assert all(key.startswith(f"rota-client-{stamp}") for key in first)


async def test_every_bulk_item_without_a_key_gets_its_own(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        made = await client.submit_many(
            [{"task": "rota.echo"}, {"task": "rota.echo", "idempotency_key": "mine"}] * 3
        )
        keys = [(await client.get_job(job["id"]))["idempotency_key"] for job in made]
    assert keys[1] == keys[3] == keys[5] == "mine" and made[1]["id"] == made[3]["id"]
    assert len({keys[0], keys[2], keys[4]}) == 3
    assert all(key.startswith("rota-client-") for key in (keys[0], keys[2], keys[4]))
