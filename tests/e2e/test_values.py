"""Values no stage can carry, with real processes: refused at the door, sent in frames that
fit, and a result that cannot be sent fails at once."""

from __future__ import annotations

import json
from typing import Any

import pytest

from tests.e2e.conftest import Cluster

JOBS = "/api/v1/jobs"


@pytest.fixture
def running(cluster: Cluster) -> Cluster:
    cluster.start_server()
    cluster.start_worker("w1")
    return cluster


def post(cluster: Cluster, path: str, body: Any) -> Any:
    """POST JSON as Python writes it: a lone surrogate travels as a \\ud800 escape."""
    text = body if isinstance(body, str) else json.dumps(body)
    return cluster.request(
        "POST", path, content=text.encode(), headers={"content-type": "application/json"}
    )


def test_lone_surrogates_are_refused_and_other_jobs_run(running: Cluster) -> None:
    single = post(running, JOBS, {"task": "rota.echo", "args": ["a\ud800b"]})
    assert single.status_code == 422, single.text
    assert single.json()["error"]["message"] == (
        "args[0]: string contains a lone surrogate (\\ud800) at index 1"
    )
    bulk = post(
        running,
        JOBS,
        [{"task": "e2e.add", "args": [1, 2]}, {"task": "rota.echo", "args": ["\ud800"]}],
    )
    assert bulk.status_code == 422, bulk.text
    assert bulk.json()["error"]["message"].startswith("jobs[1].args[0]: string contains")
    schedule = {"name": "s", "task": "rota.echo", "interval": 60, "kwargs": {"k": "\udcff"}}
    refused = post(running, "/api/v1/schedules", schedule)
    assert refused.status_code == 422, refused.text
    assert refused.json()["error"]["message"].startswith("kwargs.k: string contains")
    assert all(item["name"] != "s" for item in running.get("/api/v1/schedules")["schedules"])
    assert running.count_jobs() == 0

    job = running.submit({"task": "e2e.add", "args": [2, 3]})
    assert running.wait_finished(job["id"])["result"] == 5
    assert [listed["id"] for listed in running.all_jobs()] == [job["id"]]


@pytest.mark.parametrize("levels", [250, 251, 252, 900])
def test_deeply_nested_args_are_refused_and_nothing_is_stored(
    running: Cluster, levels: int
) -> None:
    body = '{"task": "rota.echo", "args": ' + "[" * levels + "1" + "]" * levels + "}"
    response = post(running, JOBS, body)
    assert response.status_code in (400, 422), response.text
    assert "nested" in response.json()["error"]["message"]
    assert running.count_jobs() == 0
    assert running.request("GET", JOBS).status_code == 200


def test_twenty_jobs_of_a_megabyte_due_together_all_run(cluster: Cluster) -> None:
    """Together some 20 MB, over the 16 MiB frame limit: they are split over frames."""
    cluster.start_server()
    ids = [
        cluster.submit({"task": "rota.echo", "args": [f"{n:02d}" + "x" * 1_000_000]})["id"]
        for n in range(20)
    ]
    cluster.start_worker("big", concurrency=20)
    for n, job_id in enumerate(ids):
        job = cluster.wait_finished(job_id, timeout_s=60)
        assert job["state"] == "succeeded", job
        assert job["attempt"] == 1
        assert job["result"] == f"{n:02d}" + "x" * 1_000_000


def test_a_task_returning_a_lone_surrogate_fails_at_once(running: Cluster) -> None:
    job = running.submit({"task": "e2e.undecodable_name", "max_attempts": 3})
    done = running.wait_finished(job["id"])
    assert done["state"] == "failed", done
    assert done["attempt"] == 1
    assert done["error"] == (
        "the task's result cannot be sent: result: "
        "string contains a lone surrogate (\\udce9) at index 3"
    )
