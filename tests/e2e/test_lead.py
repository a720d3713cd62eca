"""Jobs a worker holds ahead of their run_at (its lead), through real processes: a cancel
during the hold means the code never runs, and a worker killed during the hold loses
nothing: the job goes back and runs once, at its time."""

from __future__ import annotations

import signal
import time
from datetime import UTC, datetime, timedelta

from tests.e2e.conftest import Cluster, wait_for

LONG_LEAD = {"ROTA_LEAD_S": "30"}
"""A lead far beyond the test's waits: the job is held as soon as it is submitted."""


def _runs(cluster: Cluster, job_id: str) -> list[list[str]]:
    if not cluster.record_file.exists():
        return []
    lines = cluster.record_file.read_text().splitlines()
    return [line.split() for line in lines if line.startswith(job_id)]


def test_a_cancel_of_a_held_job_means_its_code_never_runs(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("holder", concurrency=1, env=LONG_LEAD)
    run_at = datetime.now(UTC) + timedelta(seconds=4)
    job = cluster.submit({"task": "e2e.record", "args": [1], "run_at": run_at.isoformat()})
    wait_for(lambda: cluster.job(job["id"])["state"] == "running", 30, "the job held ahead")
    assert cluster.job(job["id"])["worker"] == "holder"
    response = cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert response.status_code == 200, response.text
    # The holder releases the lease once it stopped the hold; the slot is free again.
    wait_for(lambda: cluster.job(job["id"])["lease_expires_at"] is None, 30, "lease ended")
    after = cluster.submit({"task": "e2e.add", "args": [20, 22]})
    assert cluster.wait_finished(after["id"], timeout_s=30)["result"] == 42
    time.sleep(max(0.0, run_at.timestamp() - time.time()) + 0.5)
    assert _runs(cluster, job["id"]) == []
    assert cluster.job(job["id"])["state"] == "cancelled"


def test_a_worker_killed_while_holding_a_job_loses_nothing(cluster: Cluster) -> None:
    cluster.start_server()
    doomed = cluster.start_worker("doomed", concurrency=1, env=LONG_LEAD)
    run_at = datetime.now(UTC) + timedelta(seconds=8)
    job = cluster.submit({"task": "e2e.record", "args": [7], "run_at": run_at.isoformat()})
    wait_for(lambda: cluster.job(job["id"])["state"] == "running", 30, "the job held ahead")
    cluster.kill(doomed, signal.SIGKILL)
    cluster.start_worker("survivor", concurrency=1)
    done = cluster.wait_finished(job["id"], timeout_s=60)
    assert (done["state"], done["result"]) == ("succeeded", 7)
    [run] = _runs(cluster, job["id"])  # once, on the survivor, not before its time
    assert run[3] == "survivor"
    assert float(run[1]) >= run_at.timestamp()
    kinds = [event["kind"] for event in cluster.events(job["id"])]
    assert kinds.count("started") == 2 and "reaped" in kinds, kinds
