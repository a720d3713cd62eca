"""Submitting jobs over REST: what is accepted, what is refused, and that refusals store nothing."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from fastapi import FastAPI

from rota.server.app import create_app
from rota.store.base import Store
from tests.server.conftest import MakeSettings

JOBS = "/api/v1/jobs"
JSON = {"content-type": "application/json"}


async def stored_count(client: httpx.AsyncClient) -> int:
    response = await client.get(JOBS, params={"limit": 500})
    assert response.status_code == 200
    return len(response.json()["jobs"])


def assert_error(response: httpx.Response, status: int, kind: str, *words: str) -> str:
    assert response.status_code == status, response.text
    body = response.json()
    assert set(body) == {"error"}
    assert body["error"]["type"] == kind
    message: str = body["error"]["message"]
    for word in words:
        assert word in message, message
    return message


async def test_submit_one_job_returns_it_pending(client: httpx.AsyncClient) -> None:
    response = await client.post(
        JOBS, json={"task": "rota.echo", "args": [1, "two"], "kwargs": {"x": [3]}, "priority": 5}
    )
    assert response.status_code == 201
    job = response.json()
    assert job["state"] == "pending"
    assert job["task"] == "rota.echo"
    assert job["args"] == [1, "two"]
    assert job["kwargs"] == {"x": [3]}
    assert job["priority"] == 5
    assert job["queue"] == "default"
    assert job["max_attempts"] == 3
    assert "lease_token" not in job
    again = await client.get(f"{JOBS}/{job['id']}")
    assert again.status_code == 200
    assert again.json()["id"] == job["id"]


async def test_submit_a_list_returns_a_list_in_order(client: httpx.AsyncClient) -> None:
    response = await client.post(
        JOBS, json=[{"task": "rota.echo", "args": [n], "queue": f"q{n}"} for n in range(3)]
    )
    assert response.status_code == 201
    jobs = response.json()
    assert [job["args"] for job in jobs] == [[0], [1], [2]]
    assert [job["queue"] for job in jobs] == ["q0", "q1", "q2"]
    assert await stored_count(client) == 3


@pytest.mark.parametrize(
    "prefer",
    [
        "return=minimal",
        "RETURN = minimal",
        'respond-async, return="minimal"; x=1',
        "wait=5, return=minimal",
    ],
)
async def test_a_minimal_preference_answers_ids_and_states(
    client: httpx.AsyncClient, prefer: str
) -> None:
    items = [{"task": "rota.echo", "args": [n], "idempotency_key": f"k{n}"} for n in range(3)]
    response = await client.post(JOBS, json=items, headers={"Prefer": prefer})
    assert response.status_code == 201, response.text
    assert response.headers["preference-applied"] == "return=minimal"
    made = response.json()
    assert [set(job) for job in made] == [{"id", "state"}] * 3
    assert [job["state"] for job in made] == ["pending"] * 3
    for n, job in enumerate(made):  # each id is the job stored for that item, in order
        stored = (await client.get(f"{JOBS}/{job['id']}")).json()
        assert (stored["args"], stored["idempotency_key"]) == ([n], f"k{n}")
    again = await client.post(JOBS, json=items, headers={"Prefer": prefer})
    assert again.json() == made  # idempotent repeats: the same jobs
    one = await client.post(JOBS, json={"task": "rota.echo"}, headers={"Prefer": prefer})
    assert set(one.json()) == {"id", "state"}


@pytest.mark.parametrize("prefer", [None, "return=representation", "return=minimalist"])
async def test_without_the_minimal_preference_the_answer_is_whole(
    client: httpx.AsyncClient, prefer: str | None
) -> None:
    headers = {"Prefer": prefer} if prefer else {}
    response = await client.post(JOBS, json=[{"task": "rota.echo"}], headers=headers)
    assert response.status_code == 201
    assert "preference-applied" not in response.headers
    [job] = response.json()
    assert job["task"] == "rota.echo" and "args" in job and "run_at" in job


async def test_a_minimal_bulk_with_one_bad_item_is_refused_whole(
    client: httpx.AsyncClient,
) -> None:
    items = [{"task": "rota.echo"}, {"task": "rota.echo", "priority": 10_000}]
    response = await client.post(JOBS, json=items, headers={"Prefer": "return=minimal"})
    assert_error(response, 422, "InvalidInput", "jobs[1].priority")
    assert "preference-applied" not in response.headers
    assert await stored_count(client) == 0


async def test_idempotency_key_returns_the_first_job(client: httpx.AsyncClient) -> None:
    body = {"task": "rota.echo", "args": ["a"], "idempotency_key": "order-17", "delay": 60}
    first = await client.post(JOBS, json=body)
    second = await client.post(JOBS, json=body)  # a retry: its run_at comes out later
    assert first.status_code == second.status_code == 201
    assert second.json() == first.json()
    assert await stored_count(client) == 1


@pytest.mark.parametrize(
    "other",
    [{"args": ["other"]}, {"task": "rota.sha256"}, {"queue": "mail"}, {"max_attempts": 7}],
)
async def test_a_key_reused_for_other_work_is_a_409_naming_its_job(
    client: httpx.AsyncClient, other: dict[str, Any]
) -> None:
    body = {"task": "rota.echo", "args": ["a"], "idempotency_key": "order-17"}
    first = (await client.post(JOBS, json=body)).json()
    response = await client.post(JOBS, json={**body, **other})
    assert_error(response, 409, "IdempotencyConflict", f"is held by job {first['id']}")
    bulk = await client.post(JOBS, json=[{"task": "rota.echo"}, {**body, **other}])
    assert_error(bulk, 409, "IdempotencyConflict", "'order-17'", first["id"])
    assert await stored_count(client) == 1


async def test_delay_sets_run_at_from_now(client: httpx.AsyncClient) -> None:
    before = datetime.now(UTC)
    job = (await client.post(JOBS, json={"task": "rota.echo", "delay": 60})).json()
    run_at = datetime.fromisoformat(job["run_at"])
    assert run_at >= before + timedelta(seconds=60)
    assert run_at <= datetime.now(UTC) + timedelta(seconds=60)


async def test_run_at_with_an_offset_is_kept_as_that_instant(client: httpx.AsyncClient) -> None:
    response = await client.post(
        JOBS, json={"task": "rota.echo", "run_at": "2031-05-01T12:00:00+02:00", "timeout": 2.5}
    )
    assert response.status_code == 201
    job = response.json()
    assert datetime.fromisoformat(job["run_at"]) == datetime(2031, 5, 1, 10, tzinfo=UTC)
    assert job["timeout_s"] == 2.5


async def test_backoff_and_target_are_stored(client: httpx.AsyncClient) -> None:
    backoff = {"base_s": 0.5, "factor": 3.0, "max_s": 10.0, "jitter": 0.0}
    job = (
        await client.post(
            JOBS,
            json={"task": "rota.echo", "backoff": backoff, "target": "device:kitchen"},
        )
    ).json()
    assert job["backoff"] == backoff
    assert job["target"] == "device:kitchen"


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"task": "rota.echo", "priority": "high"}, ["priority", "integer"]),
        ({"task": "rota.echo", "args": "x"}, ["args"]),
        ({"task": "rota.echo", "colour": "red"}, ["colour", "unknown field"]),
        ({"args": []}, ["task", "required"]),
        ({"task": "rota.echo", "run_at": "2031-05-01T12:00:00"}, ["run_at", "timezone"]),
        (
            {"task": "rota.echo", "run_at": "2031-05-01T12:00:00Z", "delay": 1},
            ["run_at", "delay"],
        ),
        ({"task": "rota.echo", "delay": -1}, ["delay"]),
        ({"task": "rota.echo", "priority": 1001}, ["priority"]),
        ({"task": "rota.echo", "max_attempts": 0}, ["max_attempts"]),
        ({"task": "rota.echo", "queue": "no spaces"}, ["queue"]),
        ({"task": "rota.echo", "idempotency_key": "k" * 201}, ["idempotency_key"]),
        ({"task": "rota.echo", "backoff": {"factor": 0.5}}, ["backoff.factor"]),
        ({"task": "not a name"}, ["task", "invalid task name"]),
        ({"task": "rota.echo\n"}, ["task", "invalid task name"]),
        ([], ["empty"]),
        ("rota.echo", ["job object"]),
        ([{"task": "rota.echo"}, {"task": "rota.echo", "priority": "x"}], ["jobs[1].priority"]),
    ],
)
async def test_invalid_submissions_are_422_and_store_nothing(
    client: httpx.AsyncClient, body: Any, words: list[str]
) -> None:
    response = await client.post(JOBS, json=body)
    assert_error(response, 422, "InvalidInput", *words)
    assert await stored_count(client) == 0


@pytest.mark.parametrize(
    "content",
    [
        b"{not json",
        b"",
        b'{"task": "rota.echo", "args": [NaN]}',
        b'{"task": "rota.echo", "a": 1e999}',
    ],
)
async def test_malformed_json_is_refused(client: httpx.AsyncClient, content: bytes) -> None:
    response = await client.post(
        JOBS, content=content, headers={"content-type": "application/json"}
    )
    assert_error(response, 400, "MalformedBody", "body")
    assert await stored_count(client) == 0


async def test_an_integer_too_long_to_read_is_refused_in_plain_words(
    client: httpx.AsyncClient,
) -> None:
    # Python's own message named sys.set_int_max_str_digits(), a server setting.
    content = b'{"task": "rota.echo", "args": [' + b"9" * 5000 + b"]}"
    response = await client.post(
        JOBS, content=content, headers={"content-type": "application/json"}
    )
    message = assert_error(response, 400, "MalformedBody", "an integer of 5000 digits")
    assert "sys." not in message
    assert await stored_count(client) == 0


async def test_unknown_task_is_422_naming_the_known_ones(client: httpx.AsyncClient) -> None:
    response = await client.post(JOBS, json={"task": "billing.charge"})
    message = assert_error(response, 422, "UnknownTask", "'billing.charge'", "rota.echo")
    assert message.startswith("unknown task 'billing.charge': no worker has registered it")
    bulk = await client.post(JOBS, json=[{"task": "rota.echo"}, {"task": "billing.charge"}])
    assert_error(bulk, 422, "UnknownTask", "jobs[1]")
    assert await stored_count(client) == 0


async def test_unknown_task_is_accepted_when_not_strict(
    make_settings: MakeSettings, store: Store
) -> None:
    app = create_app(make_settings(strict_tasks=False), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://localhost"
    ) as http:
        response = await http.post(JOBS, json={"task": "billing.charge"})
    assert response.status_code == 201


async def test_bulk_over_the_limit_is_refused(make_settings: MakeSettings, store: Store) -> None:
    app = create_app(make_settings(max_bulk=2), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://localhost"
    ) as http:
        response = await http.post(JOBS, json=[{"task": "rota.echo"}] * 3)
        assert_error(response, 422, "InvalidInput", "at most 2")
        assert await stored_count(http) == 0


@pytest.fixture
async def small_body_client(
    make_settings: MakeSettings, store: Store
) -> AsyncIterator[httpx.AsyncClient]:
    app: FastAPI = create_app(make_settings(max_body_bytes=200), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://localhost"
    ) as http:
        yield http


async def test_oversize_body_is_413(small_body_client: httpx.AsyncClient) -> None:
    response = await small_body_client.post(JOBS, json={"task": "rota.echo", "args": ["x" * 300]})
    assert_error(response, 413, "BodyTooLarge", "200 bytes")
    assert await stored_count(small_body_client) == 0


async def test_oversize_chunked_body_is_413(small_body_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"task": "rota.echo", "args": ["'
        for _ in range(10):
            yield b"x" * 50
        yield b'"]}'

    response = await small_body_client.post(JOBS, content=chunks(), headers=JSON)
    assert "content-length" not in response.request.headers
    assert_error(response, 413, "BodyTooLarge")
    assert await stored_count(small_body_client) == 0


async def test_a_small_chunked_body_is_accepted(small_body_client: httpx.AsyncClient) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        yield b'{"task": '
        yield b'"rota.echo"}'

    response = await small_body_client.post(JOBS, content=chunks(), headers=JSON)
    assert response.status_code == 201
