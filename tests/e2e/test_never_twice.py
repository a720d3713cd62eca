"""Never twice at once, judged by the tasks' own records: a cancelled job retried at once, a
drain whose grace runs out, and a slot whose code outlives its timeout.

The tasks (e2e_tasks.span*, stuck*) append start, tick and stop lines to a file; a run lasts
from its first line to its last. Two runs of one job must never overlap, whatever Rota says.
"""

from __future__ import annotations

import itertools
import signal
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cluster, wait_for

VARIANTS = ["sync", "async", "isolated"]


@dataclass
class Run:
    job: str
    run: str
    worker: str
    first: float
    last: float
    stopped: bool


def read_runs(path: Path) -> list[Run]:
    """Return every run the file records, in the order they started."""
    runs: dict[str, Run] = {}
    if not path.exists():
        return []
    for line in path.read_text().splitlines():
        what, job, run, at, worker = line.split()
        moment = float(at)
        found = runs.setdefault(run, Run(job, run, worker, moment, moment, False))
        found.first, found.last = min(found.first, moment), max(found.last, moment)
        found.stopped = found.stopped or what == "stop"
    return sorted(runs.values(), key=lambda run: run.first)


def runs_of(path: Path, job_id: str) -> list[Run]:
    return [run for run in read_runs(path) if run.job == job_id]


def assert_never_twice_at_once(path: Path) -> None:
    """Fail if two runs of any job overlap, by the tasks' own clocks."""
    by_job: dict[str, list[Run]] = {}
    for run in read_runs(path):
        by_job.setdefault(run.job, []).append(run)
    for job_id, runs in by_job.items():
        for before, after in itertools.pairwise(runs):
            assert before.last <= after.first, (
                f"job {job_id}: run {before.run} on {before.worker} was still running "
                f"{after.first - before.last:.3f}s into run {after.run} on {after.worker}"
            )


def _span(variant: str, path: Path, seconds: float, **options: float) -> dict[str, Any]:
    """Return a submission of the recording task of that variant."""
    task = {"sync": "e2e.span", "async": "e2e.span_async", "isolated": "e2e.span_isolated"}
    kwargs = dict(options)
    if variant != "async":
        kwargs.pop("linger", None)
    return {
        "task": task[variant],
        "args": [str(path), seconds],
        "kwargs": kwargs,
        "max_attempts": 1,
    }


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_cancelled_job_retried_at_once_never_runs_twice_at_once(
    cluster: Cluster, variant: str
) -> None:
    records = cluster.tmp_path / "runs.txt"
    cluster.start_server()
    cluster.start_worker("w1", concurrency=2)
    # The sync task is inside a 2 s time.sleep and the async one cleans up for 2 s once
    # cancelled, so neither can have stopped when the retry comes; a child is killed at once.
    step = 2.0 if variant == "sync" else 0.05
    job = cluster.submit(_span(variant, records, 60, step=step, linger=2.0))
    job_id = job["id"]
    wait_for(lambda: runs_of(records, job_id), 20, "the job's code to start")

    cancelled = cluster.request("DELETE", f"/api/v1/jobs/{job_id}")
    assert cancelled.status_code == 200, cancelled.text
    assert cancelled.json()["state"] == "cancelled"
    retry = cluster.request("POST", f"/api/v1/jobs/{job_id}/retry")
    if variant != "isolated":
        assert cancelled.json()["stopping"] is True
        assert retry.status_code == 409, retry.text
        message = retry.json()["error"]["message"]
        assert "still stopping" in message and "w1" in message, message
    if retry.status_code == 409:
        wait_for(lambda: not cluster.job(job_id)["stopping"], 30, "the first attempt to stop")
        retry = cluster.request("POST", f"/api/v1/jobs/{job_id}/retry")
    assert retry.status_code == 200, retry.text

    wait_for(lambda: len(runs_of(records, job_id)) == 2, 20, "the retried attempt to start")
    assert cluster.request("DELETE", f"/api/v1/jobs/{job_id}").status_code == 200
    wait_for(lambda: not cluster.job(job_id)["stopping"], 30, "the second attempt to stop")

    runs = runs_of(records, job_id)
    assert len(runs) == 2, runs
    if variant != "isolated":  # a killed child writes no stop line
        assert all(run.stopped for run in runs), runs
    assert_never_twice_at_once(records)


@pytest.mark.parametrize("variant", VARIANTS)
def test_drain_releases_a_job_only_once_its_code_stopped(cluster: Cluster, variant: str) -> None:
    records = cluster.tmp_path / "runs.txt"
    cluster.start_server()
    draining = cluster.start_worker("draining", concurrency=1, extra=("--drain-grace", "1"))
    # The async task takes 1.5 s to clean up after a cancellation.
    # 15 s: long enough to be running still once the second worker is up on a loaded machine
    # (a start can take several seconds there), which the drain below needs.
    job = cluster.submit(_span(variant, records, 15, step=0.1, linger=1.5))
    job_id = job["id"]
    wait_for(lambda: runs_of(records, job_id), 20, "the job's code to start")
    cluster.start_worker("second", concurrency=1)
    assert cluster.job(job_id)["state"] == "running", "the job ended before the drain began"

    cluster.kill(draining, signal.SIGTERM)  # returns once the process has exited
    assert draining.returncode == 0

    done = cluster.wait_finished(job_id, timeout_s=60)
    assert done["state"] == "succeeded", done
    runs = runs_of(records, job_id)
    assert [run.worker for run in runs] == ["draining", "second"], runs
    assert done["result"] == runs[1].run
    if variant != "isolated":
        assert runs[0].stopped, "the drained attempt's code must have stopped, not been dropped"
    assert_never_twice_at_once(records)


@pytest.mark.parametrize("variant", VARIANTS)
def test_a_slot_stays_busy_until_timed_out_code_stops(cluster: Cluster, variant: str) -> None:
    records = cluster.tmp_path / "runs.txt"
    cluster.start_server()
    cluster.start_worker("w1", concurrency=1)
    stuck = {"sync": "e2e.stuck", "async": "e2e.stuck_async", "isolated": "e2e.stuck_isolated"}
    job_a = cluster.submit(
        {"task": stuck[variant], "args": [str(records), 9], "timeout": 2, "max_attempts": 1}
    )["id"]
    wait_for(lambda: runs_of(records, job_a), 20, "job A's code to start")
    job_b = cluster.submit(
        {"task": "e2e.span", "args": [str(records), 0.2], "timeout": 5, "max_attempts": 1}
    )["id"]
    if variant != "isolated":  # a killed child stops at once
        wait_for(lambda: cluster.job(job_a)["stopping"], 20, "job A to show it is stopping")
        assert cluster.job(job_b)["state"] == "pending", "B must wait for A's slot"

    done_b = cluster.wait_finished(job_b, timeout_s=40)
    assert done_b["state"] == "succeeded", done_b
    done_a = cluster.wait_finished(job_a, timeout_s=40)
    assert done_a["state"] == "failed", done_a
    assert "did not finish within 2s" in done_a["error"], done_a["error"]
    assert not done_a["stopping"]

    (run_a,) = runs_of(records, job_a)
    (run_b,) = runs_of(records, job_b)
    assert run_b.stopped
    assert run_a.last <= run_b.first, "B started while A's code still ran in the only slot"
    assert_never_twice_at_once(records)


def test_a_server_restart_leaves_running_jobs_to_their_workers(cluster: Cluster) -> None:
    # A server that stops closes every worker's connection; the workers are alive and come
    # back, so their leases must keep the time their last heartbeat gave them. They used to
    # be cut to the disconnect grace (2 s), so a restart taking longer re-ran every running
    # job while its code still ran on its worker.
    records = cluster.tmp_path / "runs.txt"
    cluster.start_server(ROTA_LEASE_S="60")
    cluster.start_worker("a", concurrency=1)
    cluster.start_worker("b", concurrency=1)
    job = cluster.submit({**_span("sync", records, 8, step=0.1), "max_attempts": 2})
    job_id = job["id"]
    wait_for(lambda: runs_of(records, job_id), 20, "the job's code to start")

    assert cluster.server is not None
    cluster.kill(cluster.server, signal.SIGTERM)  # returns once the process has exited
    stopped_at = time.time()
    with sqlite3.connect(cluster.db) as db:
        [(expires_us,)] = db.execute("SELECT lease_expires_at FROM jobs").fetchall()
    # A heartbeat every 5 s renews the lease to 60 s: at least 55 s are left, never 2.
    assert expires_us / 1e6 - stopped_at > 30

    cluster.start_server()
    done = cluster.wait_finished(job_id, timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["attempt"] == 1, cluster.events(job_id)
    assert len(runs_of(records, job_id)) == 1
    assert_never_twice_at_once(records)
