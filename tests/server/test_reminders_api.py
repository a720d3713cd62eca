"""POST /api/v1/reminders: reminders become rota.remind jobs or schedules; bad input is 422."""

from __future__ import annotations

from datetime import datetime
from typing import Any

import httpx
import pytest

BASE = "/api/v1/reminders"


async def test_one_off_reminder_for_two_devices_and_a_url(client: httpx.AsyncClient) -> None:
    body = {
        "text": "Stand-up",
        "at": "in 10m",
        "devices": ["laptop", "pi"],
        "notify": ["json://127.0.0.1:9/hook"],
        "deadline": 300,
    }
    response = await client.post(BASE, json=body)
    assert response.status_code == 201, response.text
    made = response.json()
    assert made["schedules"] == []
    jobs = made["jobs"]
    assert [(job["target"], job["queue"]) for job in jobs] == [
        ("device:laptop", "reminders"),
        ("device:pi", "reminders"),
        (None, "default"),
    ]
    assert {job["task"] for job in jobs} == {"rota.remind"}
    for job in jobs:
        due = datetime.fromisoformat(job["run_at"])
        assert (datetime.fromisoformat(job["deadline_at"]) - due).total_seconds() == 300
    # Listed like any job.
    listed = (await client.get("/api/v1/jobs", params={"task": "rota.remind"})).json()["jobs"]
    assert {job["id"] for job in listed} == {job["id"] for job in jobs}


async def test_the_same_request_again_makes_nothing_new(client: httpx.AsyncClient) -> None:
    body = {"text": "Tea", "at": "in 1h", "device": "pi", "idempotency_key": "tea-1"}
    first = (await client.post(BASE, json=body)).json()
    again = (await client.post(BASE, json=body)).json()
    assert [job["id"] for job in again["jobs"]] == [job["id"] for job in first["jobs"]]


async def test_recurring_reminder_is_a_schedule_with_a_lookahead(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "text": "Stand-up",
        "at": "09:55",
        "tz": "Europe/Berlin",
        "repeat": "weekdays",
        "device": "laptop",
        "name": "standup",
    }
    response = await client.post(BASE, json=body)
    assert response.status_code == 201, response.text
    [schedule] = response.json()["schedules"]
    assert schedule["name"] == "standup" and schedule["cron"] == "55 9 * * MON-FRI"
    assert schedule["target"] == "device:laptop" and schedule["lookahead_s"] == 600
    assert len(schedule["next_fire_times"]) == 10
    shown = (await client.get("/api/v1/schedules/standup")).json()
    assert shown["task"] == "rota.remind" and shown["kwargs"] == {"text": "Stand-up"}


@pytest.mark.parametrize(
    ("body", "words"),
    [
        ({"text": "x", "at": "in 1m", "device": "a", "any_device": True}, "not device and"),
        ({"text": "x", "at": "in 1m"}, "say where it rings"),
        ({"text": "x", "at": "soon", "device": "a"}, "at: 'soon' is not a time"),
        ({"text": "x", "at": "09:00", "tz": "Nowhere/Town", "device": "a"}, "tz: unknown"),
        ({"text": "x", "repeat": "99 * * * *", "device": "a"}, "repeat: cron field 1"),
        ({"text": "x", "at": "in 1m", "device": "a", "color": "red"}, "color: unknown field"),
        ({"text": "", "at": "in 1m", "device": "a"}, "text"),
        ({"text": "a\x00b", "at": "in 1m", "device": "a"}, "NUL character"),
        ({"text": "x", "at": "in 1m", "notify": ["nope"]}, "notification URL"),
        (["not", "an", "object"], "JSON object"),
    ],
)
async def test_bad_requests_are_422_with_a_message(
    client: httpx.AsyncClient, body: Any, words: str
) -> None:
    response = await client.post(BASE, json=body)
    assert response.status_code == 422, response.text
    error = response.json()["error"]
    assert error["type"] == "InvalidInput" and words in error["message"]
