"""Jobs submitted over REST run on real worker processes, in bulk and on time."""

from __future__ import annotations

import hashlib
import time
from datetime import UTC, datetime, timedelta

import pytest

from tests.e2e.conftest import EARLY_S, LATE_S, Cluster, wait_for


@pytest.mark.timeout(300)
def test_thousand_jobs_in_bulk_all_succeed_with_correct_results(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1", concurrency=8)
    cluster.start_worker("w2", concurrency=8)
    texts = [f"message-{i}" for i in range(1000)]

    jobs = cluster.submit([{"task": "rota.sha256", "args": [text]} for text in texts])

    assert len({job["id"] for job in jobs}) == 1000
    wait_for(lambda: len(cluster.all_jobs(state="succeeded")) == 1000, 120, "all 1,000 jobs done")
    done = {job["id"]: job for job in cluster.all_jobs()}
    for job, text in zip(jobs, texts, strict=True):
        assert done[job["id"]]["result"] == hashlib.sha256(text.encode()).hexdigest()
        assert done[job["id"]]["attempt"] == 1
    workers = {job["worker"] for job in done.values()}
    assert workers == {"w1", "w2"}, "both workers should have taken part"


def test_a_delayed_job_starts_at_its_run_at(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    lateness_s = []
    for delay_s in (1.0, 1.5, 2.0):
        run_at = datetime.now(UTC) + timedelta(seconds=delay_s)
        job = cluster.submit({"task": "e2e.started_at", "run_at": run_at.isoformat()})
        done = cluster.wait_finished(job["id"])
        assert done["state"] == "succeeded", done
        body_started = datetime.fromtimestamp(done["result"], UTC)
        assert body_started >= run_at - timedelta(seconds=EARLY_S), "ran before its time"
        lateness_s.append((body_started - run_at).total_seconds())
    assert max(lateness_s) < LATE_S, lateness_s


def test_a_job_submitted_with_delay_waits_in_the_store(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    job = cluster.submit({"task": "e2e.add", "args": [2, 3], "delay": 5})
    time.sleep(0.5)  # a dispatcher that ignored run_at would have handed it out by now
    assert cluster.job(job["id"])["state"] == "pending"
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded"
    assert done["result"] == 5
    started_at, run_at = (datetime.fromisoformat(done[key]) for key in ("started_at", "run_at"))
    assert started_at >= run_at, "the store records it started on time"
