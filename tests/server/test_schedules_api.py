"""The schedules resource over HTTP: create, inspect, change, and clear refusals."""

from __future__ import annotations

import itertools
from datetime import datetime, timedelta
from typing import Any

import httpx
import pytest

BASE = "/api/v1/schedules"


def body(**fields: Any) -> dict[str, Any]:
    values: dict[str, Any] = {"name": "nightly", "task": "rota.echo", "cron": "0 3 * * *"}
    values.update(fields)
    return {key: value for key, value in values.items() if value is not None}


async def test_create_show_with_next_ten_fire_times(client: httpx.AsyncClient) -> None:
    response = await client.post(BASE, json=body(tz="Europe/Berlin", args=["hi"]))
    assert response.status_code == 201, response.text
    created = response.json()
    assert created["name"] == "nightly" and created["misfire"] == "once"
    shown = (await client.get(f"{BASE}/nightly")).json()
    times = [datetime.fromisoformat(moment) for moment in shown["next_fire_times"]]
    assert len(times) == 10
    gaps = {b - a for a, b in itertools.pairwise(times)}
    assert gaps <= {timedelta(hours=23), timedelta(hours=24), timedelta(hours=25)}
    assert shown["id"] == created["id"]
    assert (await client.get(f"{BASE}/{created['id']}")).json()["name"] == "nightly"
    listed = (await client.get(BASE)).json()["schedules"]
    assert [item["name"] for item in listed] == ["nightly"]


@pytest.mark.parametrize(
    ("fields", "status", "words"),
    [
        ({"cron": "61 * * * *"}, 422, "cron: cron field 1 (minute) value 61"),
        ({"cron": "* * *"}, 422, "cron: cron expression must have 5 fields"),
        ({"cron": "0 0 30 2 *"}, 422, "never fires"),
        ({"tz": "Mars/Olympus"}, 422, "tz: unknown time zone"),
        ({"interval": 10}, 422, "exactly one of cron and interval"),
        ({"cron": None}, 422, "exactly one of cron and interval"),
        ({"task": "nobody.has.this"}, 422, "unknown task 'nobody.has.this'"),
        ({"interval": -1, "cron": None}, 422, "interval"),
        ({"misfire": "sometimes"}, 422, "misfire"),
        ({"name": "has space"}, 422, "name"),
        ({"color": "red"}, 422, "color: unknown field"),
        # Named by the field at fault, not by the trigger that noticed it:
        (
            {"start_at": "2030-01-02T00:00:00Z", "end_at": "2030-01-01T00:00:00Z"},
            422,
            "end_at: must not be before start_at",
        ),
        ({"interval": 1e-9, "cron": None}, 422, "interval_s: must be at least one microsecond"),
    ],
)
async def test_bad_schedules_are_refused_clearly(
    client: httpx.AsyncClient, fields: dict[str, Any], status: int, words: str
) -> None:
    response = await client.post(BASE, json=body(**fields))
    assert response.status_code == status, response.text
    assert words in response.json()["error"]["message"]
    assert (await client.get(BASE)).json()["schedules"] == []


@pytest.mark.parametrize(
    ("fields", "words"),
    [
        ({"cron": "1" * 4301 + " * * * *"}, "cron: "),
        ({"cron": "1" * 900 + " * * * *"}, "cron: cron field 1 (minute) value '1111"),
        ({"cron": "x" * 100_000}, "cron: "),
        ({"tz": "Europe/" + "x" * 100_000}, "tz: "),
        ({"tz": "x" * 99}, "tz: unknown time zone 'xxxx"),
        ({"task": "a" * 100_000}, "task: invalid task name 'aaaa"),
        ({"name": "a b" * 50_000}, "name: "),
    ],
)
async def test_long_input_is_a_422_with_a_short_message_on_every_route(
    client: httpx.AsyncClient, fields: dict[str, Any], words: str
) -> None:
    responses = [
        await client.post(BASE, json=body(**fields)),
        await client.post(f"{BASE}/preview", json=body(**fields)),
    ]
    if "name" not in fields:
        responses.append(await client.put(f"{BASE}/nightly", json=body(**fields)))
    for response in responses:
        assert response.status_code == 422, response.text
        message = response.json()["error"]["message"]
        assert message.startswith(words), message
        assert len(message) < 300, message
    assert (await client.get(BASE)).json()["schedules"] == []
    assert (await client.post(BASE, json=body())).status_code == 201
    patch = {key: value for key, value in fields.items() if key != "name"}
    if patch:
        patched = await client.patch(f"{BASE}/nightly", json=patch)
        assert patched.status_code == 422, patched.text
        assert len(patched.text) < 300


async def test_a_name_in_the_body_unlike_the_path_is_quoted_short(
    client: httpx.AsyncClient,
) -> None:
    response = await client.put(f"{BASE}/nightly", json=body(name="n" * 100_000))
    assert response.status_code == 422
    message = response.json()["error"]["message"]
    assert message.startswith("name: the body says 'nnnn") and len(message) < 200, message


async def test_duplicate_name_is_a_conflict(client: httpx.AsyncClient) -> None:
    assert (await client.post(BASE, json=body())).status_code == 201
    response = await client.post(BASE, json=body(cron="@hourly"))
    assert response.status_code == 409
    assert response.json()["error"]["type"] == "ScheduleExists"


async def test_put_is_an_idempotent_upsert(client: httpx.AsyncClient) -> None:
    first = await client.put(f"{BASE}/nightly", json=body())
    assert first.status_code == 201
    again = await client.put(f"{BASE}/nightly", json=body())
    assert again.status_code == 200
    assert again.json()["version"] == first.json()["version"]
    changed = await client.put(f"{BASE}/nightly", json=body(cron="0 4 * * *"))
    assert changed.json()["cron"] == "0 4 * * *" and changed.json()["id"] == first.json()["id"]
    mismatch = await client.put(f"{BASE}/nightly", json=body(name="other"))
    assert mismatch.status_code == 422


async def test_patch_pause_resume_trigger_delete(client: httpx.AsyncClient) -> None:
    await client.post(BASE, json=body())
    patched = await client.patch(f"{BASE}/nightly", json={"interval": 60, "args": [1]})
    assert patched.status_code == 200, patched.text
    assert patched.json()["cron"] is None and patched.json()["interval_s"] == 60
    refused = await client.patch(f"{BASE}/nightly", json={"tz": "Nowhere/Else"})
    assert refused.status_code == 422 and "tz" in refused.json()["error"]["message"]
    assert (await client.patch(f"{BASE}/nightly", json={})).status_code == 422
    paused = (await client.post(f"{BASE}/nightly/pause")).json()
    assert paused["paused"] is True and paused["next_fire_times"] == []
    resumed = (await client.post(f"{BASE}/nightly/resume")).json()
    assert resumed["paused"] is False and len(resumed["next_fire_times"]) == 10
    job = await client.post(f"{BASE}/nightly/trigger")
    assert job.status_code == 201
    assert job.json()["schedule_id"] == resumed["id"] and job.json()["args"] == [1]
    assert (await client.delete(f"{BASE}/nightly")).status_code == 200
    missing = await client.get(f"{BASE}/nightly")
    assert missing.status_code == 404
    assert missing.json()["error"]["type"] == "ScheduleNotFound"
