"""Killed workers, crashing tasks, a killed server and a worker presumed dead lose nothing."""

from __future__ import annotations

import signal
import time
from datetime import datetime

from tests.e2e.conftest import Cluster, wait_for


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_sigkill_of_a_worker_running_ten_jobs_reruns_all_of_them(cluster: Cluster) -> None:
    cluster.start_server()
    doomed = cluster.start_worker("doomed", concurrency=10)
    # The doomed worker holds its jobs until it is killed, however long the survivor takes to
    # start on a loaded machine; the survivor runs them at once.
    held = {"task": "e2e.whoami", "kwargs": {"on": {"doomed": 300}}}
    jobs = cluster.submit([held for _ in range(10)])
    wait_for(
        lambda: all(cluster.job(j["id"])["state"] == "running" for j in jobs),
        30,
        "all ten jobs running on the doomed worker",
    )
    cluster.start_worker("survivor", concurrency=10)

    killed_at = time.time()
    cluster.kill(doomed, signal.SIGKILL)

    for job in jobs:
        done = cluster.wait_finished(job["id"], timeout_s=30)
        assert done["state"] == "succeeded", done
        assert done["result"] == "survivor"
        assert done["attempt"] == 2
        # Well before the 30 s lease would expire: the closed socket freed it (load-proof).
        assert _at(done["started_at"]) - killed_at < 15.0, "re-run waited for the lease"
        kinds = [event["kind"] for event in cluster.events(job["id"])]
        assert kinds.count("started") == 2 and "reaped" in kinds, kinds


def test_a_task_that_kills_its_worker_ends_failed_not_looping(cluster: Cluster) -> None:
    cluster.start_server()
    job = None
    deaths = 0
    worker = cluster.start_worker("crashy-0")
    job = cluster.submit({"task": "e2e.kill_worker", "max_attempts": 2, "backoff": {"base_s": 0.1}})
    deadline = time.monotonic() + 40
    while time.monotonic() < deadline:
        state = cluster.job(job["id"])["state"]
        if state in {"failed", "succeeded"}:
            break
        if worker.poll() is not None:  # it died: bring a fresh worker, as a supervisor would
            deaths += 1
            # Not waiting for it to show online: it may take the job and die before a poll.
            worker = cluster.start_worker(f"crashy-{deaths}", wait=False)
        time.sleep(0.1)
    done = cluster.job(job["id"])
    assert done["state"] == "failed", done
    assert done["attempt"] == 2
    assert "lease" in (done["error"] or ""), done["error"]
    assert deaths == 2
    time.sleep(1.0)
    assert worker.poll() is None, "a failed job must not be handed out again"


def test_server_sigkill_and_restart_loses_no_job_and_workers_reconnect(cluster: Cluster) -> None:
    cluster.start_server()
    worker = cluster.start_worker("w1", concurrency=4)
    running = cluster.submit([{"task": "e2e.whoami", "args": [2]} for _ in range(4)])
    queued = cluster.submit([{"task": "e2e.add", "args": [i, i]} for i in range(50)])
    delayed = cluster.submit({"task": "e2e.add", "args": [1, 1], "delay": 4})
    wait_for(
        lambda: all(cluster.job(j["id"])["state"] == "running" for j in running[:1]),
        30,
        "a job running",
    )
    assert cluster.server is not None
    cluster.kill(cluster.server, signal.SIGKILL)
    time.sleep(1.0)
    cluster.start_server()

    for job in [*running, *queued, delayed]:
        done = cluster.wait_finished(job["id"], timeout_s=60)
        assert done["state"] == "succeeded", done
    assert [cluster.job(j["id"])["result"] for j in queued] == [2 * i for i in range(50)]
    assert worker.poll() is None, "the worker should have reconnected, not died"
    wait_for(lambda: cluster.worker_state("w1") == "online", 30, "w1 online again")


def test_a_worker_presumed_dead_cannot_overwrite_the_later_attempt(cluster: Cluster) -> None:
    # Short leases so a stopped worker is presumed dead quickly.
    cluster.start_server(ROTA_LEASE_S="1.5", ROTA_HEARTBEAT_S="0.3")
    frozen = cluster.start_worker("frozen", concurrency=1)
    job = cluster.submit({"task": "e2e.whoami", "args": [2.5]})
    wait_for(lambda: cluster.job(job["id"])["state"] == "running", 30, "the job running")

    frozen.send_signal(signal.SIGSTOP)  # alive but silent: no heartbeats, socket still open
    cluster.start_worker("healthy", concurrency=1)
    wait_for(lambda: cluster.job(job["id"])["worker"] == "healthy", 15, "a second attempt")
    frozen.send_signal(signal.SIGCONT)  # wakes up and sends its (stale) result

    done = cluster.wait_finished(job["id"], timeout_s=20)
    time.sleep(3.0)  # time for the frozen worker's late result to arrive and be refused
    final = cluster.job(job["id"])
    assert done["state"] == final["state"] == "succeeded"
    assert final["result"] == "healthy", "the stale attempt's result must be refused"
    assert final["attempt"] == 2
    kinds = [event["kind"] for event in cluster.events(job["id"])]
    assert kinds.count("succeeded") == 1, kinds
