"""The read routes people use, on SQLite and on PostgreSQL: jobs searched and sorted, the
warning on jobs no online worker can run, attempts, retries, task figures, a worker's page
and a schedule's runs."""

from __future__ import annotations

from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import httpx
import pytest

from rota.clock import SYSTEM_CLOCK
from rota.jobs import Lease
from rota.scheduling.model import Firing, Skip
from rota.server.errors import AUTH_ERRORS, COMMON_ERRORS
from rota.store.base import AcquireRequest, Store, WorkerInfo
from rota.store.sqlite import SqliteStore
from tests.contract.postgres import postgres_backend
from tests.server.test_api_submit import JOBS, assert_error

API = "/api/v1"


@pytest.fixture(params=["sqlite", "postgres"])
async def store(request: pytest.FixtureRequest, tmp_path: Path) -> AsyncIterator[Store]:
    if request.param == "sqlite":
        opened: Store = SqliteStore(tmp_path / "rota.db")
        await opened.open()
    else:
        opened = await postgres_backend(tmp_path, SYSTEM_CLOCK)()
    yield opened
    await opened.close()


async def submit(client: httpx.AsyncClient, **fields: object) -> dict[str, Any]:
    response = await client.post(JOBS, json={"task": "rota.echo", **fields})
    assert response.status_code == 201, response.text
    job: dict[str, Any] = response.json()
    return job


async def listed(client: httpx.AsyncClient, **params: object) -> list[str]:
    response = await client.get(JOBS, params=params)
    assert response.status_code == 200, response.text
    return [job["id"] for job in response.json()["jobs"]]


async def online(store: Store, name: str = "w1", **fields: Any) -> None:
    fields.setdefault("queues", ["default"])
    fields.setdefault("tasks", ["rota.echo", "rota.sha256"])
    await store.register_worker(WorkerInfo(name=name, **fields))


async def run_and_fail(store: Store, error: str, traceback: str) -> None:
    [job] = await store.acquire(AcquireRequest(worker="w1", queues=["default"]))
    assert job.lease_token is not None
    await store.fail(Lease(job_id=job.id, token=job.lease_token), error=error, traceback=traceback)


async def test_search_sort_and_filters(client: httpx.AsyncClient) -> None:
    hello = await submit(client, args=["Hello"], idempotency_key="key-1")
    digest = await submit(client, task="rota.sha256", args=["x"], delay=60)
    short = hello["id"][-12:]
    assert await listed(client, search=short) == [hello["id"]]
    assert await listed(client, q="KEY-1") == [hello["id"]]
    assert await listed(client, search="hello") == [hello["id"]]
    assert await listed(client, task="rota.s") == [digest["id"]]
    assert await listed(client, sort="run_at") == [digest["id"], hello["id"]]
    assert await listed(client, sort="task", order="asc") == [hello["id"], digest["id"]]
    assert await listed(client, created_after=digest["created_at"]) == [digest["id"]]
    assert await listed(client, created_before=digest["created_at"]) == [hello["id"]]
    assert_error(await client.get(JOBS, params={"sort": "size"}), 422, "InvalidInput")
    assert_error(
        await client.get(JOBS, params={"created_after": "2030-01-01T00:00:00"}),
        422,
        "InvalidInput",
    )
    assert_error(await client.get(JOBS, params={"schedule": "nope"}), 404, "ScheduleNotFound")


async def test_a_pending_job_no_online_worker_can_run_carries_a_warning(
    client: httpx.AsyncClient, store: Store
) -> None:
    nobody = await submit(client)
    assert nobody["warning"] == "no worker is online"
    await online(store, "w1", tags=["gpu"])
    await online(store, "gone", tasks=["app.only_offline"], queues=["default"])
    await store.worker_gone("gone")
    fine = await submit(client)
    assert fine["warning"] is None
    targeted = await submit(client, target="nosuch")
    assert targeted["warning"] == "no online worker is named or tagged 'nosuch'"
    assert (await submit(client, target="gpu"))["warning"] is None
    other_queue = await submit(client, queue="mail")
    assert other_queue["warning"] == (
        "no online worker that runs 'rota.echo' serves the queue 'mail'"
    )
    offline_task = await submit(client, task="app.only_offline")
    assert offline_task["warning"] == "no online worker announced the task 'app.only_offline'"

    shown = (await client.get(f"{JOBS}/{targeted['id']}")).json()
    assert shown["warning"] == targeted["warning"]
    page = (await client.get(JOBS)).json()["jobs"]
    warnings = {job["id"]: job["warning"] for job in page}
    assert warnings[offline_task["id"]] == offline_task["warning"]
    assert warnings[fine["id"]] is None


async def test_attempts_keep_each_error_and_traceback(
    client: httpx.AsyncClient, store: Store
) -> None:
    job = await submit(client, max_attempts=2, backoff={"base_s": 0.0, "jitter": 0.0})
    await run_and_fail(store, "first error", "Traceback 1")
    await run_and_fail(store, "second error", "Traceback 2")
    response = await client.get(f"{JOBS}/{job['id']}/attempts")
    assert response.status_code == 200, response.text
    attempts = response.json()["attempts"]
    assert [(a["attempt"], a["outcome"], a["error"], a["traceback"]) for a in attempts] == [
        (1, "failed", "first error", "Traceback 1"),
        (2, "failed", "second error", "Traceback 2"),
    ]
    assert attempts[0]["worker"] == "w1" and attempts[0]["duration_s"] >= 0
    assert_error(await client.get(f"{JOBS}/{'0' * 8}/attempts"), 404, "JobNotFound")


async def test_retry_with_new_arguments_and_retry_many(
    client: httpx.AsyncClient, store: Store
) -> None:
    first = await submit(client, args=["a"], max_attempts=1)
    second = await submit(client, args=["b"], max_attempts=1)
    other = await submit(client, task="rota.sha256", args=["c"], max_attempts=1)
    for _ in range(3):
        await run_and_fail(store, "boom", "tb")
    response = await client.post(f"{JOBS}/{first['id']}/retry", json={"args": ["fixed"]})
    assert response.status_code == 200, response.text
    assert response.json()["args"] == ["fixed"] and response.json()["state"] == "pending"
    bad = await client.post(f"{JOBS}/{second['id']}/retry", json={"args": "not a list"})
    assert_error(bad, 422, "InvalidInput")
    deep: Any = []
    for _ in range(70):
        deep = [deep]
    too_deep = await client.post(f"{JOBS}/{second['id']}/retry", json={"args": deep})
    assert_error(too_deep, 422, "InvalidValue")
    plain = await client.post(f"{JOBS}/{second['id']}/retry")
    assert plain.status_code == 200 and plain.json()["args"] == ["b"]

    await run_and_fail(store, "boom", "tb")
    await run_and_fail(store, "boom", "tb")
    many = await client.post(f"{JOBS}/retry", json={"task": "rota.echo", "state": "failed"})
    assert many.status_code == 200, many.text
    assert many.json() == {"retried": 2, "skipped": 0}
    assert (await store.get_job(other["id"])).state == "failed"
    none = await client.post(
        f"{JOBS}/retry", json={"task": "rota.sha256", "since": "2999-01-01T00:00:00+00:00"}
    )
    assert none.json() == {"retried": 0, "skipped": 0}
    assert_error(await client.post(f"{JOBS}/retry", json={"state": "failed"}), 422, "InvalidInput")
    for task in ("rota\x00echo", "\x00"):  # the same 422 naming the field on every backend
        nul = await client.post(f"{JOBS}/retry", json={"task": task})
        assert_error(nul, 422, "InvalidInput", "task: ", "NUL character")


async def test_task_stats(client: httpx.AsyncClient, store: Store) -> None:
    await submit(client, max_attempts=1)
    await run_and_fail(store, "boom", "tb")
    await submit(client, task="rota.sha256", args=["x"])
    response = await client.get(f"{API}/stats/tasks", params={"window": "15m"})
    assert response.status_code == 200, response.text
    body = response.json()
    assert body["window"] == "15m"
    tasks = {row["task"]: row for row in body["tasks"]}
    assert tasks["rota.echo"]["counts"]["failed"] == 1
    assert tasks["rota.echo"]["failure_rate"] == 1.0
    assert tasks["rota.sha256"]["counts"]["pending"] == 1
    assert_error(
        await client.get(f"{API}/stats/tasks", params={"window": "2h"}), 422, "InvalidInput"
    )


async def test_worker_page(client: httpx.AsyncClient, store: Store) -> None:
    await online(store, "w1")
    await store.worker_seen("w1", running=1, state="online", resources={"cpu_percent": 12.5})
    job = await submit(client)
    await store.acquire(AcquireRequest(worker="w1", queues=["default"]))
    response = await client.get(f"{API}/workers/w1")
    assert response.status_code == 200, response.text
    page = response.json()
    assert page["tasks"] == ["rota.echo", "rota.sha256"]
    assert [j["id"] for j in page["running_jobs"]] == [job["id"]]
    assert [j["id"] for j in page["recent_jobs"]] == [job["id"]]
    assert page["samples"][-1]["resources"] == {"cpu_percent": 12.5}
    assert page["drain_url"] == f"{API}/workers/w1/drain"
    assert_error(await client.get(f"{API}/workers/nobody"), 404, "WorkerNotFound")


async def test_schedule_runs_and_names(client: httpx.AsyncClient, store: Store) -> None:
    created = await client.post(
        f"{API}/schedules", json={"name": "nightly", "task": "rota.echo", "interval": 3600}
    )
    assert created.status_code == 201, created.text
    triggered = await client.post(f"{API}/schedules/nightly/trigger")
    job_id = triggered.json()["id"]
    job = (await client.get(f"{JOBS}/{job_id}")).json()
    assert job["schedule_name"] == "nightly"
    assert await listed(client, schedule="nightly") == [job_id]
    schedule = await store.get_schedule("nightly")
    skipped_at = datetime(2000, 1, 1, 3, tzinfo=UTC)  # older than the triggered run
    written = await store.fire_schedule(
        Firing(
            schedule_id=schedule.id,
            version=schedule.version,
            next_fire_at=schedule.next_fire_at,
            last_fire_at=None,
            jobs=[],
            skips=[Skip(fire_at=skipped_at, reason="overlap=skip: its last run was running")],
        )
    )
    assert written == []
    runs = await client.get(f"{API}/schedules/nightly/runs")
    assert runs.status_code == 200, runs.text
    body = runs.json()
    assert body["schedule_name"] == "nightly"
    assert [(run["outcome"], (run["job"] or {}).get("id")) for run in body["runs"]] == [
        ("pending", job_id),
        ("skipped", None),
    ]
    assert body["runs"][1]["fire_at"] == skipped_at.isoformat()
    assert body["runs"][1]["reason"] == "overlap=skip: its last run was running"
    assert_error(await client.get(f"{API}/schedules/nope/runs"), 404, "ScheduleNotFound")


COMMON = {str(status) for status in (*COMMON_ERRORS, *AUTH_ERRORS)}
"""What every route but the health probes may answer."""


async def test_openapi_documents_the_routes_and_their_errors(client: httpx.AsyncClient) -> None:
    schema = (await client.get("/openapi.json")).json()
    paths = schema["paths"]
    expected = {
        ("/api/v1/jobs", "get"): COMMON | {"200", "404"},
        ("/api/v1/jobs/{job_id}", "get"): COMMON | {"200", "404"},
        ("/api/v1/jobs/{job_id}/attempts", "get"): COMMON | {"200", "404"},
        ("/api/v1/jobs/{job_id}/retry", "post"): COMMON | {"200", "404", "409"},
        ("/api/v1/jobs/retry", "post"): COMMON | {"200"},
        ("/api/v1/stats/tasks", "get"): COMMON | {"200"},
        ("/api/v1/workers/{name}", "get"): COMMON | {"200", "404"},
        ("/api/v1/schedules/{ref}/runs", "get"): COMMON | {"200", "404"},
    }
    for (path, method), statuses in expected.items():
        assert set(paths[path][method]["responses"]) == statuses, path
    assert "warning" in schema["components"]["schemas"]["JobOut"]["properties"]


@pytest.mark.parametrize(
    ("since", "reason"),
    [
        ("2030-13-01", "since: '2030-13-01' is not ISO 8601, e.g. 2030-01-01T00:00:00Z"),
        ("tomorrow", "since: 'tomorrow' is not ISO 8601, e.g. 2030-01-01T00:00:00Z"),
        ("2030-01-01T00:00:00", "since: give a timezone offset, e.g. 2030-01-01T00:00:00Z"),
        # A number is refused without pointing to `delay`, which only a job's run_at has.
        (
            "1700000000",
            "since: give ISO 8601 text with an offset, e.g. 2030-01-01T00:00:00Z "
            "(a number is not a moment)",
        ),
    ],
)
async def test_a_moment_that_is_not_one_is_refused_in_rotas_words(
    client: httpx.AsyncClient, since: str, reason: str
) -> None:
    response = await client.post(f"{JOBS}/retry", json={"task": "rota.echo", "since": since})
    assert_error(response, 422, "InvalidInput")
    assert response.json()["error"]["message"] == reason
