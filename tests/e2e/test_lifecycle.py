"""Retries with backoff, cancellation, idempotency and draining, through real processes."""

from __future__ import annotations

import itertools
import signal
import subprocess
import time
from datetime import datetime

from rota.lifecycle import HELD_AHEAD_NOTE
from tests.e2e.conftest import ROTA, Cluster, wait_for


def test_a_raising_job_is_retried_with_backoff_then_fails_with_its_traceback(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    job = cluster.submit(
        {
            "task": "e2e.boom",
            "args": ["kaput"],
            "max_attempts": 3,
            "backoff": {"base_s": 0.4, "factor": 2, "jitter": 0},
        }
    )
    done = cluster.wait_finished(job["id"], timeout_s=30)

    assert done["state"] == "failed"
    assert done["attempt"] == 3
    assert "ValueError: kaput" in done["error"]
    assert "Traceback" in done["traceback"] and "raise ValueError(message)" in done["traceback"]
    events = cluster.events(job["id"])
    assert [e["kind"] for e in events].count("started") == 3
    # A retry is claimed a moment ahead of its run_at (the worker's lead) and its code starts
    # then: the attempts' ends are as far apart as the backoff, or a little further.
    ends = [datetime.fromisoformat(e["at"]) for e in events if e["kind"] in {"retrying", "failed"}]
    assert len(ends) == 3
    gaps = [(b - a).total_seconds() for a, b in itertools.pairwise(ends)]
    assert 0.4 <= gaps[0] < gaps[1], gaps  # 0.4 s, then 0.8 s: exponential
    assert [e["kind"] for e in events].count("retrying") == 2
    assert any("kaput" in (e["message"] or "") for e in events if e["kind"] == "failed")


def test_cancel_a_pending_and_a_running_job(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1", concurrency=1)
    pending = cluster.submit({"task": "e2e.add", "args": [1, 2], "delay": 60})
    running = cluster.submit({"task": "rota.sleep", "args": [60]})
    wait_for(lambda: cluster.job(running["id"])["state"] == "running", 30, "sleep running")

    for job in (pending, running):
        response = cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
        assert response.status_code == 200, response.text
        assert response.json()["state"] == "cancelled"

    # The worker's only slot is free again: a new job runs at once.
    after = cluster.submit({"task": "e2e.add", "args": [20, 22]})
    assert cluster.wait_finished(after["id"], timeout_s=10)["result"] == 42
    assert cluster.job(running["id"])["state"] == "cancelled"
    again = cluster.request("DELETE", f"/api/v1/jobs/{running['id']}")
    assert again.status_code == 409
    assert "cancelled" in again.json()["error"]["message"]


def test_the_same_idempotency_key_returns_the_same_job(cluster: Cluster) -> None:
    cluster.start_server()
    first = cluster.submit({"task": "rota.echo", "args": [1], "idempotency_key": "order-17"})
    second = cluster.submit({"task": "rota.echo", "args": [1], "idempotency_key": "order-17"})
    assert first["id"] == second["id"]
    other = cluster.request(
        "POST",
        "/api/v1/jobs",
        json={"task": "rota.echo", "args": [2], "idempotency_key": "order-17"},
    )
    assert other.status_code == 409, other.text
    assert other.json()["error"]["type"] == "IdempotencyConflict"
    assert first["id"] in other.json()["error"]["message"]
    assert cluster.job(first["id"])["args"] == [1], "the other submission must not change it"
    assert cluster.count_jobs() == 1


def test_retry_requeues_a_failed_job(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    job = cluster.submit({"task": "e2e.boom", "args": ["once"], "max_attempts": 1})
    assert cluster.wait_finished(job["id"])["state"] == "failed"
    response = cluster.request("POST", f"/api/v1/jobs/{job['id']}/retry")
    assert response.status_code == 200, response.text
    assert response.json()["state"] in {"pending", "running", "failed"}
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "failed"
    kinds = [event["kind"] for event in cluster.events(job["id"])]
    assert kinds.count("started") == 2 and "retried" in kinds


def test_every_attempt_keeps_its_number_across_a_retry(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    fast = {"base_s": 0.01, "max_s": 0.01, "jitter": 0}
    job = cluster.submit({"task": "e2e.boom", "args": ["no"], "max_attempts": 3, "backoff": fast})
    assert cluster.wait_finished(job["id"])["state"] == "failed"
    retried = cluster.request("POST", f"/api/v1/jobs/{job['id']}/retry").json()
    assert (retried["attempt"], retried["prior_attempts"]) == (3, 3)
    done = cluster.wait_finished(job["id"])
    assert (done["state"], done["attempt"]) == ("failed", 6)
    started = [
        (e["attempt"], e["message"].removesuffix(HELD_AHEAD_NOTE))
        for e in cluster.events(job["id"])
        if e["kind"] == "started"
    ]  # a retry due in 10 ms is claimed ahead of it, which its event notes
    assert started == [(n, f"attempt {n} of {3 if n <= 3 else 6}") for n in range(1, 7)]
    logs = subprocess.run(
        [ROTA, "--server", cluster.url, "jobs", "logs", job["id"]],
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    ).stdout
    assert logs.count("attempt 1 of 3") == 1, logs
    assert "#4 started" in logs and "attempt 4 of 6" in logs, logs


def test_sigterm_drains_finishing_short_jobs_and_releasing_long_ones(cluster: Cluster) -> None:
    cluster.start_server()
    worker = cluster.start_worker("drainer", concurrency=2, extra=("--drain-grace", "2"))
    short = cluster.submit({"task": "e2e.whoami", "args": [1]})
    long = cluster.submit({"task": "e2e.whoami", "args": [30]})
    wait_for(
        lambda: all(cluster.job(j["id"])["state"] == "running" for j in (short, long)),
        30,
        "both jobs running",
    )
    started = time.monotonic()
    worker.send_signal(signal.SIGTERM)
    assert worker.wait(timeout=25) == 0
    assert time.monotonic() - started < 20, "the worker waited for the 30 s job"

    assert cluster.job(short["id"])["state"] == "succeeded"
    released = cluster.job(long["id"])
    assert released["state"] == "pending", released
    # A released attempt does not count against max_attempts, but keeps its number.
    assert (released["attempt"], released["prior_attempts"]) == (1, 1), released
    assert "released" in [event["kind"] for event in cluster.events(long["id"])]
