"""The fault suite's process faults: a worker SIGKILLed while it holds many leases, a task
that kills its worker every time, the server SIGKILLed (with jobs running, and during a
stream of submissions), and a worker presumed dead that comes back. Each test records its
figures (tests/e2e/figures.py) for docs/reliability.md."""

from __future__ import annotations

import signal
import threading
import time
from dataclasses import dataclass, field
from datetime import datetime

import httpx
import pytest

from tests.e2e.conftest import Cluster, wait_for
from tests.e2e.figures import record

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

HELD = 50
"""Leases the doomed worker holds when it is killed: 10 running and 40 prefetched."""
SUBMISSIONS = 10_000
CLIENTS = 4
KILL_AFTER_ACKS = 3_000


def _at(text: str) -> float:
    return datetime.fromisoformat(text).timestamp()


def test_sigkill_of_a_worker_holding_fifty_leases_reruns_all_of_them(cluster: Cluster) -> None:
    cluster.start_server()
    doomed = cluster.start_worker("doomed", concurrency=10, extra=("--prefetch", "40"))
    # The doomed worker holds its jobs until it is killed, however long the survivor takes to
    # start on a loaded machine; the survivor runs them at once.
    held = {"task": "e2e.whoami", "kwargs": {"on": {"doomed": 300}}}
    jobs = cluster.submit([held for _ in range(HELD)])
    wait_for(
        lambda: all(cluster.job(j["id"])["worker"] == "doomed" for j in jobs),
        30,
        f"all {HELD} jobs leased to the doomed worker",
    )
    cluster.start_worker("survivor", concurrency=25)

    killed_at = time.time()
    cluster.kill(doomed, signal.SIGKILL)
    done = [cluster.wait_finished(job["id"], timeout_s=60) for job in jobs]
    rerun_s = max(_at(job["started_at"]) - killed_at for job in done)
    finished_s = max(_at(job["finished_at"]) - killed_at for job in done)
    lost = sum(1 for job in done if job["state"] != "succeeded" or job["result"] != "survivor")
    record("worker_kill.leases_held", HELD, "jobs", "10 running + 40 prefetched, SIGKILL")
    record("worker_kill.lost", lost, "jobs", "not succeeded on the surviving worker")
    record("worker_kill.rerun_s", round(rerun_s, 2), "s", "kill to the last job started again")
    record("worker_kill.finished_s", round(finished_s, 2), "s", "kill to the last job finished")

    assert lost == 0, [job for job in done if job["state"] != "succeeded"]
    for job in done:
        assert job["attempt"] == 2, job
        kinds = [event["kind"] for event in cluster.events(job["id"])]
        assert kinds.count("started") == 2 and "reaped" in kinds, kinds
    # Well before the 30 s lease would expire: the closed socket freed them (load-proof).
    assert rerun_s < 15.0, "the re-runs waited for the leases to expire"


def test_a_task_that_kills_its_worker_ends_failed_and_spares_the_other_jobs(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    deaths = 0
    worker = cluster.start_worker("crashy-0")
    # A job that shares a process with the killer dies with it and loses an attempt; the
    # three deaths can cost it three, so a fourth lets it finish.
    others = cluster.submit(
        [{"task": "e2e.add", "args": [i, 1], "max_attempts": 4} for i in range(30)]
    )
    began = time.monotonic()
    job = cluster.submit({"task": "e2e.kill_worker", "max_attempts": 3, "backoff": {"base_s": 0.1}})
    deadline = time.monotonic() + 60
    while time.monotonic() < deadline:
        state = cluster.job(job["id"])["state"]
        if state in {"failed", "succeeded"}:
            break
        if worker.poll() is not None:  # it died: bring a fresh worker, as a supervisor would
            deaths += 1
            # Not waiting for it to show online: it may take the job and die before a poll.
            worker = cluster.start_worker(f"crashy-{deaths}", wait=False)
        time.sleep(0.1)
    failed_s = time.monotonic() - began
    done = cluster.job(job["id"])
    finished = [cluster.wait_finished(other["id"], timeout_s=60) for other in others]
    spared = sum(
        1
        for i, other in enumerate(finished)
        if other["state"] == "succeeded" and other["result"] == i + 1
    )
    record("killer_task.attempts", done["attempt"], "attempts", "max_attempts 3; ends failed")
    record("killer_task.worker_deaths", deaths, "processes", "workers the task killed")
    record("killer_task.failed_after_s", round(failed_s, 2), "s", "submit to failed")
    record("killer_task.others_succeeded", spared, "of 30", "jobs submitted beside it")
    record(
        "killer_task.others_retried",
        sum(1 for other in finished if other["attempt"] > 1),
        "of 30",
        "jobs beside it that died with it at least once (each death costs them an attempt)",
    )

    assert done["state"] == "failed", done
    assert done["attempt"] == 3
    assert "lease" in (done["error"] or ""), done["error"]
    assert deaths == 3
    assert spared == len(others), [
        (other["state"], other["attempt"], other["error"])
        for other in finished
        if other["state"] != "succeeded"
    ]
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
    restarted = time.monotonic()

    for job in [*running, *queued, delayed]:
        done = cluster.wait_finished(job["id"], timeout_s=60)
        assert done["state"] == "succeeded", done
    assert [cluster.job(j["id"])["result"] for j in queued] == [2 * i for i in range(50)]
    assert worker.poll() is None, "the worker should have reconnected, not died"
    wait_for(lambda: cluster.worker_state("w1") == "online", 30, "w1 online again")
    record(
        "server_kill.jobs_done_after_restart_s",
        round(time.monotonic() - restarted, 2),
        "s",
        "55 jobs (4 running at the kill): restart answering to all succeeded",
    )


@dataclass
class Stream:
    """What the submitting clients saw: the id of every acknowledged submission, by key."""

    acked: dict[str, str] = field(default_factory=dict)
    refused: list[str] = field(default_factory=list)
    errors: int = 0
    lock: threading.Lock = field(default_factory=threading.Lock)


def _submit_all(url: str, keys: list[str], stream: Stream, stop: threading.Event) -> None:
    """Submit one job per key, one request at a time; a request that fails for want of a
    server is sent again (the same key: a repeat of a committed one returns that job)."""
    with httpx.Client(base_url=url, timeout=10) as client:
        for key in keys:
            while not stop.is_set():
                body = {"task": "e2e.add", "args": [1, 2], "idempotency_key": key}
                try:
                    response = client.post("/api/v1/jobs", json=body)
                except httpx.TransportError:
                    with stream.lock:
                        stream.errors += 1
                    time.sleep(0.05)
                    continue
                with stream.lock:
                    if response.status_code in (200, 201):
                        stream.acked[key] = response.json()["id"]
                    elif response.status_code >= 500:
                        stream.errors += 1
                        continue
                    else:
                        stream.refused.append(f"{response.status_code} {response.text[:200]}")
                break


@pytest.mark.timeout(300)  # 10,000 durable submits take a minute on a loaded 2-core machine
def test_server_sigkill_during_ten_thousand_submissions_loses_none_acknowledged(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    # A worker runs them as they come (the server refuses a task no worker has registered).
    cluster.start_worker("w1", concurrency=8)
    keys = [f"stream-{number}" for number in range(SUBMISSIONS)]
    stream, stop = Stream(), threading.Event()
    clients = [
        threading.Thread(
            target=_submit_all, args=(cluster.url, keys[n::CLIENTS], stream, stop), daemon=True
        )
        for n in range(CLIENTS)
    ]
    for client in clients:
        client.start()
    try:
        wait_for(
            lambda: len(stream.acked) >= KILL_AFTER_ACKS or stream.refused,
            120,
            f"{KILL_AFTER_ACKS} acks",
        )
        assert stream.refused == []
        assert cluster.server is not None
        cluster.kill(cluster.server, signal.SIGKILL)
        killed_at = time.monotonic()
        acked_before_kill = len(stream.acked)
        time.sleep(1.0)
        cluster.start_server()
        down_s = time.monotonic() - killed_at
        for client in clients:
            client.join(timeout=180)
        assert not any(client.is_alive() for client in clients), "the clients did not finish"
    finally:
        stop.set()

    stored = cluster.all_jobs()
    stored_ids = {job["id"] for job in stored}
    found = sum(1 for job_id in stream.acked.values() if job_id in stored_ids)
    lost = len(stream.acked) - found
    record("server_kill.submissions", SUBMISSIONS, "jobs", f"single submits from {CLIENTS} clients")
    record("server_kill.acked_before_kill", acked_before_kill, "jobs", "2xx before the SIGKILL")
    record("server_kill.acknowledged", len(stream.acked), "jobs", "2xx answers, in all")
    record("server_kill.found", found, "jobs", "acknowledged jobs in the store after restart")
    record("server_kill.lost", lost, "jobs", "acknowledged but not found")
    duplicates = len(stored) - len({job["idempotency_key"] for job in stored})
    record("server_kill.duplicates", duplicates, "jobs", "stored jobs beyond one per key")
    record("server_kill.failed_requests", stream.errors, "requests", "no answer while down; resent")
    record("server_kill.down_s", round(down_s, 2), "s", "SIGKILL to the new server answering")

    assert stream.refused == []
    assert lost == 0, sorted(set(stream.acked.values()) - stored_ids)[:20]
    assert len(stream.acked) == SUBMISSIONS
    # Resent submissions were repeats of their key, not new jobs.
    assert duplicates == 0
    assert len(stored) == SUBMISSIONS
    assert acked_before_kill < SUBMISSIONS, "the kill must fall inside the stream"


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
