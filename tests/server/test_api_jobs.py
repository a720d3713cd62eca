"""Inspecting and managing jobs over REST: lookups, listing, changes, cancel, retry, probes."""

from __future__ import annotations

import asyncio
from typing import Any

import httpx
import pytest

from rota.jobs import Lease
from rota.store.base import AcquireRequest, Store
from tests.server.test_api_submit import JOBS, JSON, assert_error

UNKNOWN_ID = "01a20000-0000-7000-8000-000000000000"


async def submit(client: httpx.AsyncClient, **fields: object) -> dict[str, Any]:
    response = await client.post(JOBS, json={"task": "rota.echo", **fields})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


@pytest.mark.parametrize(
    ("method", "path"),
    [
        ("GET", f"{JOBS}/{UNKNOWN_ID}"),
        ("GET", f"{JOBS}/{UNKNOWN_ID}/events"),
        ("GET", f"{JOBS}/{UNKNOWN_ID}/result"),
        ("DELETE", f"{JOBS}/{UNKNOWN_ID}"),
        ("POST", f"{JOBS}/{UNKNOWN_ID}/retry"),
    ],
)
async def test_unknown_job_is_404(client: httpx.AsyncClient, method: str, path: str) -> None:
    assert_error(await client.request(method, path), 404, "JobNotFound")


async def test_patch_of_unknown_job_is_404(client: httpx.AsyncClient) -> None:
    response = await client.patch(f"{JOBS}/{UNKNOWN_ID}", json={"priority": 3})
    assert_error(response, 404, "JobNotFound")


async def test_unknown_route_has_the_error_shape(client: httpx.AsyncClient) -> None:
    assert_error(await client.get("/api/v1/nothing"), 404, "NotFound")


async def test_list_pages_newest_first_through_every_job(client: httpx.AsyncClient) -> None:
    ids = [(await submit(client, args=[n]))["id"] for n in range(5)]
    seen: list[object] = []
    cursor = None
    while True:
        params: dict[str, str | int] = {"limit": 2}
        if cursor:
            params["cursor"] = cursor
        page = (await client.get(JOBS, params=params)).json()
        assert len(page["jobs"]) <= 2
        seen.extend(job["id"] for job in page["jobs"])
        cursor = page["next_cursor"]
        if cursor is None:
            break
    assert seen == list(reversed(ids))


async def test_list_filters(client: httpx.AsyncClient) -> None:
    await submit(client, queue="mail")
    keyed = await submit(client, queue="mail", idempotency_key="invoice-9")
    other = await submit(client, queue="video")
    await client.delete(f"{JOBS}/{other['id']}")

    def ids(response: httpx.Response) -> list[object]:
        assert response.status_code == 200
        return [job["id"] for job in response.json()["jobs"]]

    assert len(ids(await client.get(JOBS, params={"queue": "mail"}))) == 2
    assert ids(await client.get(JOBS, params={"state": "cancelled"})) == [other["id"]]
    assert ids(await client.get(JOBS, params={"q": "invoice-9"})) == [keyed["id"]]
    assert ids(await client.get(JOBS, params={"q": keyed["id"]})) == [keyed["id"]]
    assert ids(await client.get(JOBS, params={"task": "other.task"})) == []
    assert_error(await client.get(JOBS, params={"state": "sleeping"}), 422, "InvalidInput", "state")
    assert_error(await client.get(JOBS, params={"limit": 501}), 422, "InvalidInput", "limit")


async def test_patch_changes_a_pending_job(client: httpx.AsyncClient) -> None:
    job = await submit(client, delay=600)
    response = await client.patch(
        f"{JOBS}/{job['id']}", json={"priority": 7, "args": [1], "run_at": "2040-01-01T00:00:00Z"}
    )
    assert response.status_code == 200, response.text
    changed = response.json()
    assert changed["priority"] == 7
    assert changed["args"] == [1]
    assert changed["run_at"].startswith("2040-01-01T00:00:00")


async def test_patch_refuses_bad_bodies(client: httpx.AsyncClient) -> None:
    job = await submit(client)
    path = f"{JOBS}/{job['id']}"
    assert_error(await client.patch(path, json={}), 422, "InvalidInput", "nothing to change")
    assert_error(await client.patch(path, json={"state": "x"}), 422, "InvalidInput", "state")
    assert_error(await client.patch(path, json={"priority": 1.5}), 422, "InvalidInput", "priority")
    assert_error(
        await client.patch(path, content=b"[1", headers=JSON), 400, "MalformedBody", "JSON"
    )


async def test_cancel_then_patch_and_cancel_again_are_409(client: httpx.AsyncClient) -> None:
    job = await submit(client)
    cancelled = await client.delete(f"{JOBS}/{job['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled"
    assert_error(await client.delete(f"{JOBS}/{job['id']}"), 409, "InvalidTransition")
    response = await client.patch(f"{JOBS}/{job['id']}", json={"priority": 1})
    assert_error(response, 409, "InvalidTransition")


async def test_retry_brings_a_cancelled_job_back_and_refuses_a_pending_one(
    client: httpx.AsyncClient,
) -> None:
    job = await submit(client)
    assert_error(await client.post(f"{JOBS}/{job['id']}/retry"), 409, "InvalidTransition")
    await client.delete(f"{JOBS}/{job['id']}")
    retried = await client.post(f"{JOBS}/{job['id']}/retry")
    assert retried.status_code == 200
    assert retried.json()["state"] == "pending"


async def test_retry_while_the_cancelled_attempt_is_stopping_is_409(
    client: httpx.AsyncClient, store: Store
) -> None:
    job = await submit(client)
    [running] = await store.acquire(AcquireRequest(worker="w1", queues=["default"]))
    cancelled = await client.delete(f"{JOBS}/{job['id']}")
    assert cancelled.status_code == 200
    assert cancelled.json()["state"] == "cancelled" and cancelled.json()["stopping"] is True
    refused = await client.post(f"{JOBS}/{job['id']}/retry")
    assert_error(refused, 409, "JobStopping", "still stopping on worker w1")
    shown = (await client.get(f"{JOBS}/{job['id']}")).json()
    assert shown["stopping"] is True and shown["stop_requested_at"] is not None
    listed = (await client.get(JOBS, params={"state": "cancelled"})).json()["jobs"]
    assert [(j["id"], j["stopping"]) for j in listed] == [(job["id"], True)]

    # The worker says the attempt's code stopped: now the job may run again.
    await store.release(Lease(job_id=job["id"], token=running.lease_token or ""))
    assert (await client.get(f"{JOBS}/{job['id']}")).json()["stopping"] is False
    retried = await client.post(f"{JOBS}/{job['id']}/retry")
    assert retried.status_code == 200, retried.text
    assert retried.json()["state"] == "pending"


async def test_events_list_the_execution_log(client: httpx.AsyncClient) -> None:
    job = await submit(client)
    await client.delete(f"{JOBS}/{job['id']}")
    events = (await client.get(f"{JOBS}/{job['id']}/events")).json()["events"]
    kinds = [event["kind"] for event in events]
    assert kinds[0] == "submitted"
    assert "cancelled" in kinds
    later = await client.get(f"{JOBS}/{job['id']}/events", params={"after": events[0]["id"]})
    assert [event["kind"] for event in later.json()["events"]] == kinds[1:]


async def test_result_without_wait_returns_the_job_as_it_is(client: httpx.AsyncClient) -> None:
    job = await submit(client)
    response = await client.get(f"{JOBS}/{job['id']}/result", params={"wait": 0.2})
    assert response.status_code == 200
    assert response.json()["state"] == "pending"
    assert_error(
        await client.get(f"{JOBS}/{job['id']}/result", params={"wait": -1}),
        422,
        "InvalidInput",
        "wait",
    )


async def test_result_wait_returns_when_the_job_is_cancelled(client: httpx.AsyncClient) -> None:
    job = await submit(client)
    waiting = asyncio.create_task(client.get(f"{JOBS}/{job['id']}/result", params={"wait": 30}))
    await asyncio.sleep(0.1)
    assert not waiting.done()
    await client.delete(f"{JOBS}/{job['id']}")
    response = await asyncio.wait_for(waiting, 5)
    assert response.json()["state"] == "cancelled"


async def test_queues_tasks_and_workers(client: httpx.AsyncClient) -> None:
    await submit(client, queue="mail")
    await submit(client, queue="mail", delay=600)
    queues = (await client.get("/api/v1/queues")).json()["queues"]
    assert queues == [
        {
            "queue": "mail",
            "pending": 2,
            "due": 1,
            "running": 0,
            "oldest_due_age_s": queues[0]["oldest_due_age_s"],
        }
    ]
    tasks = (await client.get("/api/v1/tasks")).json()["tasks"]
    assert {"rota.echo", "rota.sleep", "rota.sha256", "rota.http", "rota.shell"} <= set(tasks)
    assert (await client.get("/api/v1/workers")).json() == {"workers": []}
    assert_error(await client.post("/api/v1/workers/nobody/drain"), 404, "WorkerNotFound")


async def test_health_probes(client: httpx.AsyncClient, store: Store) -> None:
    for prefix in ("/api/v1", ""):
        assert (await client.get(f"{prefix}/healthz")).json() == {"status": "ok"}
        assert (await client.get(f"{prefix}/readyz")).status_code == 200
    await store.close()
    assert (await client.get("/api/v1/readyz")).status_code == 503
    assert (await client.get("/healthz")).status_code == 200


async def test_openapi_describes_the_bodies(client: httpx.AsyncClient) -> None:
    assert (await client.get("/docs")).status_code == 200
    schema = (await client.get("/openapi.json")).json()
    assert {"JobSubmit", "JobPatch"} <= set(schema["components"]["schemas"])
    assert "/api/v1/jobs" in schema["paths"]
    submit = schema["paths"]["/api/v1/jobs"]["post"]
    assert "requestBody" in submit
    assert [p["name"] for p in submit["parameters"] if p["in"] == "header"] == ["Prefer"]
    assert "return=minimal" in submit["responses"]["201"]["description"]


MISSING = "0190f5c2-0000-7000-8000-000000000000"


@pytest.mark.parametrize(
    ("path", "allowed"),
    [
        ("/api/v1/jobs", "GET, POST"),
        (f"/api/v1/jobs/{MISSING}", "DELETE, GET, PATCH"),
        ("/api/v1/jobs/retry", "POST"),
        ("/api/v1/schedules/nightly", "DELETE, GET, PATCH, PUT"),
    ],
)
async def test_a_405_names_every_method_of_the_path(
    client: httpx.AsyncClient, path: str, allowed: str
) -> None:
    response = await client.request("OPTIONS", path)
    assert response.status_code == 405
    assert response.headers["allow"] == allowed
    assert response.json()["error"]["type"] == "MethodNotAllowed"


async def test_long_ids_and_names_are_refused_with_a_short_message(
    client: httpx.AsyncClient,
) -> None:
    for response in (
        await client.get("/api/v1/jobs/" + "x" * 10_000),
        await client.delete("/api/v1/jobs/" + "x" * 10_000),
        await client.post("/api/v1/workers/" + "w" * 10_000 + "/drain"),
        await client.post("/api/v1/jobs", json={"task": "t" * 100_000}),
        await client.post("/api/v1/jobs", json={"task": "rota.echo", "queue": "q" * 100_000}),
        await client.get(f"/api/v1/jobs/{MISSING}/events", params={"after": 10**30}),
        await client.post("/api/v1/jobs", json={"task": "rota.echo", "u" * 100_000: 1}),
        await client.post("/api/v1/schedules", json={"name": "s", "v" * 100_000: 1}),
    ):
        assert response.status_code == 422, response.text
        assert len(response.text) < 300, response.text
