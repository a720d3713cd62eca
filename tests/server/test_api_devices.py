"""GET /devices and the reminder actions (snooze, dismiss), against a live server with fake
devices speaking the worker protocol."""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx

from rota.server.errors import AUTH_ERRORS, COMMON_ERRORS
from tests.server.conftest import LiveServer, StartServer
from tests.server.fakes import FakeWorker

JOBS = "/api/v1/jobs"
DEVICE = {"queues": ["reminders"], "tasks": ["rota.remind"], "capacity": 50}


async def device(server: LiveServer, name: str) -> FakeWorker:
    """Connect a fake device named `name` (tags device and device:<name>)."""
    return await server.worker(name, tags=["device", f"device:{name}"], **DEVICE)


async def remind(
    server: LiveServer, text: str, target: str, *, delay_s: float | None = None, **more: Any
) -> dict[str, Any]:
    body: dict[str, Any] = {
        "task": "rota.remind",
        "kwargs": {"text": text},
        "queue": "reminders",
        "target": target,
        **more,
    }
    if delay_s is not None:
        body["delay"] = delay_s
    response = await server.http.post(JOBS, json=body)
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def devices(http: httpx.AsyncClient) -> dict[str, dict[str, Any]]:
    response = await http.get("/api/v1/devices")
    assert response.status_code == 200, response.text
    return {item["name"]: item for item in response.json()["devices"]}


async def device_once(
    http: httpx.AsyncClient, name: str, ready: Callable[[dict[str, Any]], bool]
) -> dict[str, Any]:
    """Return the device as GET /devices shows it once `ready` holds (a heartbeat or a
    disconnect is recorded after the frame is read); fail after 10 s."""
    deadline = time.monotonic() + 10
    while not ready(shown := (await devices(http))[name]):
        assert time.monotonic() < deadline, f"never so: {shown}"
        await asyncio.sleep(0.02)
    return shown


async def test_devices_show_held_and_waiting_reminders_the_next_one_and_the_clock_offset(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await server.worker("plain")  # an ordinary worker is no device
    laptop = await device(server, "laptop")
    await device(server, "pi")
    first = await remind(server, "stand-up", "device:laptop")
    await remind(server, "tea", "device:laptop")
    later = await remind(server, "later", "device:laptop", delay_s=3600)
    await remind(server, "for the pi", "device:pi", delay_s=7200)
    held = await laptop.receive_jobs(2)
    assert {job["kwargs"]["text"] for job in held} == {"stand-up", "tea"}
    # The device's clock runs 30 s ahead of the server's.
    await laptop.send(
        {
            "type": "heartbeat",
            "running": [{"job_id": job["job_id"], "token": job["token"]} for job in held],
            "state": "online",
            "resources": {},
            "sent_at": time.time() + 30,
        }
    )
    one = await device_once(server.http, "laptop", lambda d: d["clock_offset_s"] is not None)
    shown = await devices(server.http)
    assert sorted(shown) == ["laptop", "pi"]
    assert one["online"] is True and one["state"] == "online"
    assert (one["held"], one["waiting"]) == (2, 1)
    assert one["next"]["held"] is True
    assert one["next"]["job_id"] in {first["id"], *(job["job_id"] for job in held)}
    assert 29 < one["clock_offset_s"] < 31
    assert one["last_seen_at"] is not None
    pi = shown["pi"]
    assert (pi["held"], pi["waiting"], pi["clock_offset_s"]) == (0, 1, None)
    assert pi["next"] == {
        "job_id": pi["next"]["job_id"],
        "due_at": pi["next"]["due_at"],
        "text": "for the pi",
        "held": False,
    }
    assert pi["next"]["job_id"] != later["id"]
    single = await server.http.get("/api/v1/devices/laptop")
    assert single.status_code == 200
    assert single.json()["held"] == 2


async def test_a_heartbeat_without_its_clock_leaves_the_offset_unknown(
    start_server: StartServer,
) -> None:
    server = await start_server()
    laptop = await device(server, "laptop")
    before = (await devices(server.http))["laptop"]["last_seen_at"]
    await laptop.heartbeat([])
    seen = await device_once(server.http, "laptop", lambda d: d["last_seen_at"] != before)
    assert seen["clock_offset_s"] is None


async def test_a_device_that_left_shows_offline_with_what_waits_for_it(
    start_server: StartServer,
) -> None:
    server = await start_server()
    laptop = await device(server, "laptop")
    await laptop.close()
    await remind(server, "while away", "device:laptop")
    shown = await device_once(server.http, "laptop", lambda d: not d["online"])
    assert shown["state"] == "offline"
    assert (shown["held"], shown["waiting"]) == (0, 1)
    assert shown["next"]["text"] == "while away"


async def test_an_unknown_device_and_a_worker_that_is_no_device_are_404(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await server.worker("plain")
    for name in ("nosuch", "plain"):
        response = await server.http.get(f"/api/v1/devices/{name}")
        assert response.status_code == 404
        error = response.json()["error"]
        assert error["type"] == "WorkerNotFound"
        assert name in error["message"]


async def test_snooze_makes_a_linked_reminder_and_cancels_one_that_has_not_rung(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await device(server, "phone")  # the server knows rota.remind from a device's hello
    deadline = datetime.now(UTC) + timedelta(seconds=900)
    original = await remind(
        server, "call mum", "device:laptop", delay_s=600, deadline=deadline.isoformat(), priority=3
    )
    late_by = datetime.fromisoformat(original["deadline_at"]) - datetime.fromisoformat(
        original["run_at"]
    )
    response = await server.http.post(
        f"/api/v1/reminders/{original['id']}/snooze", json={"minutes": 15}
    )
    assert response.status_code == 201, response.text
    body = response.json()
    assert body["created"] is True
    assert body["snoozed"]["id"] == original["id"]
    assert body["snoozed"]["state"] == "cancelled"
    made = body["reminder"]
    assert made["id"] != original["id"]
    assert made["idempotency_key"] == f"snooze:{original['id']}"
    assert (made["task"], made["kwargs"], made["target"], made["queue"], made["priority"]) == (
        "rota.remind",
        {"text": "call mum"},
        "device:laptop",
        "reminders",
        3,
    )
    due = datetime.fromisoformat(made["run_at"])
    assert due - datetime.fromisoformat(original["run_at"]) == timedelta(minutes=15)
    assert datetime.fromisoformat(made["deadline_at"]) - due == late_by
    again = await server.http.post(
        f"/api/v1/reminders/{original['id']}/snooze", json={"minutes": 5}
    )
    assert again.status_code == 201
    assert again.json()["created"] is False
    assert again.json()["reminder"]["id"] == made["id"]


async def test_a_tiny_snooze_of_a_reminder_not_yet_due_puts_it_off_from_its_due_moment(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await device(server, "phone")
    original = await remind(server, "dentist", "device:phone", delay_s=3600)
    response = await server.http.post(
        f"/api/v1/reminders/{original['id']}/snooze", json={"minutes": 0.001}
    )
    assert response.status_code == 201, response.text
    due = datetime.fromisoformat(response.json()["reminder"]["run_at"])
    assert due - datetime.fromisoformat(original["run_at"]) == timedelta(minutes=0.001)


async def test_snoozing_a_reminder_that_rang_keeps_it_and_rings_again(
    start_server: StartServer,
) -> None:
    server = await start_server()
    laptop = await device(server, "laptop")
    original = await remind(server, "stretch", "device:laptop")
    [held] = await laptop.receive_jobs(1)
    ack = await laptop.finish(held, {"rung_at": "2030-01-01T00:00:00+00:00"})
    assert ack["ok"] is True
    response = await server.http.post(
        f"/api/v1/reminders/{original['id']}/snooze", json={"minutes": 0.01}
    )
    assert response.status_code == 201, response.text
    assert response.json()["snoozed"]["state"] == "succeeded"
    [again] = await laptop.receive_jobs(1)
    assert again["job_id"] == response.json()["reminder"]["id"]
    assert again["kwargs"] == {"text": "stretch"}


async def test_dismiss_cancels_a_held_reminder_and_tells_its_device(
    start_server: StartServer,
) -> None:
    server = await start_server()
    laptop = await device(server, "laptop")
    original = await remind(server, "bins out", "device:laptop")
    [held] = await laptop.receive_jobs(1)
    response = await server.http.post(f"/api/v1/reminders/{original['id']}/dismiss")
    assert response.status_code == 200, response.text
    assert response.json()["state"] == "cancelled"
    cancel = await laptop.receive("cancel")
    assert cancel["job_id"] == held["job_id"]
    twice = await server.http.post(f"/api/v1/reminders/{original['id']}/dismiss")
    assert twice.status_code == 200, twice.text
    assert twice.json() == response.json()


async def test_reminder_actions_refuse_other_jobs_unknown_ids_and_bad_bodies(
    start_server: StartServer,
) -> None:
    server = await start_server()
    await device(server, "phone")
    echo = (await server.http.post(JOBS, json={"task": "rota.echo", "delay": 60})).json()
    reminder = await remind(server, "x", "device:laptop", delay_s=60)
    for action in ("snooze", "dismiss"):
        for job_id in (echo["id"], "nosuchjob"):
            response = await server.http.post(
                f"/api/v1/reminders/{job_id}/{action}", json={"minutes": 5}
            )
            assert response.status_code == 404, response.text
            assert response.json()["error"]["type"] == "JobNotFound"
    url = f"/api/v1/reminders/{reminder['id']}/snooze"
    for body in ({}, {"minutes": 0}, {"minutes": "5"}, {"minutes": True}, {"minutes": 5, "x": 1}):
        response = await server.http.post(url, json=body)
        assert response.status_code == 422, (body, response.text)
        assert response.json()["error"]["message"]
    assert (await server.http.get(f"{JOBS}/{reminder['id']}")).json()["state"] == "pending"


COMMON = {str(status) for status in (*COMMON_ERRORS, *AUTH_ERRORS)}
"""What every route but the health probes may answer."""


async def test_openapi_documents_the_device_and_reminder_routes(
    start_server: StartServer,
) -> None:
    server = await start_server()
    schema = (await server.http.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/devices", "get"): COMMON | {"200"},
        ("/api/v1/devices/{name}", "get"): COMMON | {"200", "404"},
        ("/api/v1/reminders/{job_id}/snooze", "post"): COMMON | {"201", "404", "409"},
        ("/api/v1/reminders/{job_id}/dismiss", "post"): COMMON | {"200", "404", "409"},
    }
    for (path, method), statuses in expected.items():
        assert set(paths[path][method]["responses"]) == statuses, path
    device = schema["components"]["schemas"]["DeviceOut"]["properties"]
    assert {"online", "last_seen_at", "held", "next", "clock_offset_s"} <= set(device)
    snooze = paths["/api/v1/reminders/{job_id}/snooze"]["post"]["requestBody"]
    assert "minutes" in snooze["content"]["application/json"]["schema"]["properties"]
