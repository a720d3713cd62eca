"""Values a job may carry, at the REST edges: refused with a 422 naming the field, nothing
stored; and values stored before these checks are still read back by every route."""

from __future__ import annotations

import json
from typing import Any

import httpx
import pytest

from rota.jobs import JobSpec
from rota.scheduling.model import ScheduleSpec
from rota.server.app import create_app
from rota.store.base import Store
from rota.values import MAX_ARGUMENTS_BYTES, MAX_DEPTH, MAX_SAFE_INTEGER
from tests.server.conftest import MakeSettings

JOBS = "/api/v1/jobs"
SCHEDULES = "/api/v1/schedules"


def nested(levels: int, inner: Any = 1) -> Any:
    """Return `inner` wrapped in that many lists."""
    value = inner
    for _ in range(levels):
        value = [value]
    return value


def deep_text(levels: int) -> str:
    """Return JSON text of 1 in that many lists (json.dumps gives up before 1,000)."""
    return "[" * levels + "1" + "]" * levels


async def send(client: httpx.AsyncClient, method: str, path: str, body: Any) -> httpx.Response:
    """Send the body as Python's json writes it (a lone surrogate as a \\ud800 escape); a
    str is sent as the JSON text it is."""
    content = (body if isinstance(body, str) else json.dumps(body)).encode()
    return await client.request(
        method, path, content=content, headers={"content-type": "application/json"}
    )


async def stored_jobs(client: httpx.AsyncClient) -> list[dict[str, Any]]:
    response = await client.get(JOBS, params={"limit": 500})
    assert response.status_code == 200, response.text
    jobs: list[dict[str, Any]] = response.json()["jobs"]
    return jobs


def refusal(response: httpx.Response, *words: str) -> str:
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "InvalidValue", error
    for word in words:
        assert word in error["message"], error["message"]
    message: str = error["message"]
    return message


@pytest.mark.parametrize(
    ("body", "words"),
    [
        (
            {"task": "rota.echo", "args": ["a\ud800b"]},
            ["args[0]: string contains a lone surrogate (\\ud800) at index 1"],
        ),
        (
            {"task": "rota.echo", "kwargs": {"a": {"b": ["ok", "\udcff"]}}},
            ["kwargs.a.b[1]: string contains a lone surrogate (\\udcff) at index 0"],
        ),
        (
            {"task": "rota.echo", "kwargs": {"n\udcffme": 1}},
            ['kwargs: key "n\\udcffme" contains a lone surrogate'],
        ),
        (
            [{"task": "rota.echo", "args": ["fine"]}, {"task": "rota.echo", "args": ["\ud800"]}],
            ["jobs[1].args[0]: string contains a lone surrogate"],
        ),
        ('{"task": "rota.echo", "args": ' + deep_text(250) + "}", ["args[0]", "deeper than 64"]),
        ({"task": "rota.echo", "args": [nested(MAX_DEPTH - 1)]}, ["args[0]", "deeper"]),
        ({"task": "rota.echo", "args": [MAX_SAFE_INTEGER + 1]}, ["args[0]", "2**53"]),
        ({"task": "rota.echo", "kwargs": {"x": -(2**64)}}, ["kwargs.x", "2**53"]),
    ],
)
async def test_values_no_stage_can_carry_are_refused_and_nothing_is_stored(
    client: httpx.AsyncClient, body: Any, words: list[str]
) -> None:
    refusal(await send(client, "POST", JOBS, body), *words)
    assert await stored_jobs(client) == []


async def test_nesting_past_what_json_can_parse_is_refused(client: httpx.AsyncClient) -> None:
    # Python's parser gives up before 1,000 levels: the body is refused before any field.
    body = '{"task": "rota.echo", "args": ' + deep_text(1000) + "}"
    response = await send(client, "POST", JOBS, body)
    assert response.status_code == 400, response.text
    assert "nested too deeply; a value may be nested 64 levels" in response.text
    assert await stored_jobs(client) == []


async def test_values_at_the_limits_are_accepted_and_read_back(client: httpx.AsyncClient) -> None:
    args = [nested(MAX_DEPTH - 2), MAX_SAFE_INTEGER, -MAX_SAFE_INTEGER, "\U0001f600 \u00e9 \x00"]
    kwargs = {"\u00fcber": {"\U0001f511": 1.5e300}}
    response = await send(
        client, "POST", JOBS, {"task": "rota.echo", "args": args, "kwargs": kwargs}
    )
    assert response.status_code == 201, response.text
    job = response.json()
    assert job["args"] == args and job["kwargs"] == kwargs
    assert (await client.get(f"{JOBS}/{job['id']}")).json()["args"] == args
    assert [listed["args"] for listed in await stored_jobs(client)] == [args]


async def test_arguments_over_the_size_limit_are_refused(
    make_settings: MakeSettings, store: Store
) -> None:
    app = create_app(make_settings(max_body_bytes=3 * MAX_ARGUMENTS_BYTES), store)
    async with httpx.AsyncClient(
        transport=httpx.ASGITransport(app), base_url="http://localhost"
    ) as http:
        half = "x" * (MAX_ARGUMENTS_BYTES // 2)
        response = await send(
            http, "POST", JOBS, {"task": "rota.echo", "args": [half], "kwargs": {"more": half}}
        )
        refusal(response, "args, kwargs: together", f"limit of {MAX_ARGUMENTS_BYTES:,}")
        assert await stored_jobs(http) == []
        fits = await send(http, "POST", JOBS, {"task": "rota.echo", "args": [half]})
        assert fits.status_code == 201
        path = f"{JOBS}/{fits.json()['id']}"
        refusal(await send(http, "PATCH", path, {"kwargs": {"k": half}}), "together")
        both = {"args": [half], "kwargs": {"k": half}}
        refusal(await send(http, "PATCH", path, both), "together")
        created = await send(http, "POST", SCHEDULES, schedule(args=[half]))
        assert created.status_code == 201, created.text
        for patch in ({"kwargs": {"k": half}}, both):
            refusal(await send(http, "PATCH", f"{SCHEDULES}/nightly", patch), "together")


async def test_patch_refuses_bad_arguments_and_keeps_the_job(client: httpx.AsyncClient) -> None:
    job = (await send(client, "POST", JOBS, {"task": "rota.echo", "args": ["kept"]})).json()
    path = f"{JOBS}/{job['id']}"
    refusal(await send(client, "PATCH", path, {"args": ["a\ud800"]}), "args[0]", "surrogate")
    deep = '{"kwargs": {"deep": ' + deep_text(300) + "}}"
    refusal(await send(client, "PATCH", path, deep), "kwargs.deep")
    assert (await client.get(path)).json()["args"] == ["kept"]


@pytest.mark.parametrize("field", ["idempotency_key", "target"])
@pytest.mark.parametrize("text", ["a\ud800", "a\x00b"])
async def test_text_fields_that_cannot_be_stored_are_refused(
    client: httpx.AsyncClient, field: str, text: str
) -> None:
    response = await send(client, "POST", JOBS, {"task": "rota.echo", field: text})
    assert response.status_code == 422, response.text
    assert field in response.json()["error"]["message"]
    assert await stored_jobs(client) == []


def schedule(**fields: Any) -> dict[str, Any]:
    return {"name": "nightly", "task": "rota.echo", "cron": "0 3 * * *", **fields}


async def test_schedules_refuse_bad_arguments_on_every_route(client: httpx.AsyncClient) -> None:
    bad = {"args": ["x", "\udcff"]}
    refusal(await send(client, "POST", SCHEDULES, schedule(**bad)), "args[1]", "surrogate")
    refusal(await send(client, "PUT", f"{SCHEDULES}/nightly", schedule(**bad)), "args[1]")
    refusal(await send(client, "POST", f"{SCHEDULES}/preview", schedule(**bad)), "args[1]")
    deep = json.dumps(schedule())[:-1] + ', "kwargs": {"k": ' + deep_text(500) + "}}"
    refusal(await send(client, "POST", SCHEDULES, deep), "kwargs.k", "deeper")
    assert (await client.get(SCHEDULES)).json()["schedules"] == []

    created = await send(client, "POST", SCHEDULES, schedule(args=["ok"]))
    assert created.status_code == 201, created.text
    refusal(await send(client, "PATCH", f"{SCHEDULES}/nightly", bad), "args[1]")
    big = {"kwargs": {"n": 2**63}}
    refusal(await send(client, "PATCH", f"{SCHEDULES}/nightly", big), "kwargs.n")
    assert (await client.get(f"{SCHEDULES}/nightly")).json()["args"] == ["ok"]


async def test_values_stored_before_the_checks_are_read_back(
    client: httpx.AsyncClient, store: Store
) -> None:
    """Jobs an older version stored (lone surrogates, 252 levels of nesting) are shown with
    the surrogates escaped and the deep part replaced by a note, never a 500."""
    [odd, deep] = await store.submit(
        [
            JobSpec(task="rota.echo", args=["a\ud800b"], kwargs={"k\udcff": [2**70]}),
            JobSpec(task="rota.echo", args=nested(252)),
        ]
    )
    listed = await client.get(JOBS)
    assert listed.status_code == 200, listed.text
    assert len(listed.json()["jobs"]) == 2
    shown = (await client.get(f"{JOBS}/{odd.id}")).json()
    assert shown["args"] == ["a\\ud800b"]
    assert shown["kwargs"] == {"k\\udcff": [2**70]}
    result = await client.get(f"{JOBS}/{deep.id}/result")
    assert result.status_code == 200, result.text
    assert "nested deeper than 64 levels" in json.dumps(result.json()["args"])

    await store.create_schedule(
        ScheduleSpec(name="old", task="rota.echo", interval_s=60, args=["\ud800"]), None
    )
    schedules = await client.get(SCHEDULES)
    assert schedules.status_code == 200, schedules.text
    assert schedules.json()["schedules"][0]["args"] == ["\\ud800"]
