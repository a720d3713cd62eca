"""Several servers over one PostgreSQL: no server is special, none runs a job twice at once."""

from __future__ import annotations

import itertools
import json
import signal
import time
from collections import defaultdict
from collections.abc import Iterator
from datetime import datetime
from pathlib import Path

import httpx
import pytest

from tests.e2e.conftest import Cluster, free_port, wait_for
from tests.e2e.figures import record
from tests.e2e.pg import OwnCluster, drop_database, fresh_database, query

# The waits inside these tests add up to more than the suite's default timeout.
pytestmark = [pytest.mark.postgres, pytest.mark.timeout(600)]


@pytest.fixture
def pg_cluster(cluster: Cluster) -> Iterator[Cluster]:
    dsn, admin = fresh_database()
    cluster.dsn = dsn
    try:
        yield cluster
    finally:
        cluster.stop()
        drop_database(admin, dsn)


def succeeded(cluster: Cluster, dsn: str) -> int:
    rows = query(dsn, "SELECT count(*) FROM rota.jobs WHERE state = 'succeeded'")
    return int(rows[0][0])


def check_exactly_once(cluster: Cluster, dsn: str, total: int) -> None:
    """Every job succeeded once, with its own value, and no two runs of a job overlapped."""
    rows = query(dsn, "SELECT state, count(*) FROM rota.jobs GROUP BY state")
    assert {row[0]: row[1] for row in rows} == {"succeeded": total}
    wrong = query(dsn, "SELECT id FROM rota.jobs WHERE result::jsonb <> args::jsonb -> 0")
    assert not wrong, f"{len(wrong)} jobs have someone else's result"
    twice = query(
        dsn,
        "SELECT job_id FROM rota.events WHERE kind = 'succeeded' "
        "GROUP BY job_id HAVING count(*) > 1",
    )
    assert not twice, f"{len(twice)} jobs succeeded more than once"
    runs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in cluster.record_file.read_text().splitlines():
        job_id, begun, ended, _worker = line.split()
        runs[job_id].append((float(begun), float(ended)))
    assert len(runs) == total, "every job must have run"
    for job_id, spans in runs.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"job {job_id} ran twice at once: {spans}"


def submit_spread(cluster: Cluster, urls: list[str], total: int, seconds: float) -> None:
    batch = 500
    for number, first in enumerate(range(0, total, batch)):
        body = [
            {"task": "e2e.record", "args": [value, seconds]}
            for value in range(first, min(total, first + batch))
        ]
        response = httpx.post(urls[number % len(urls)] + "/api/v1/jobs", json=body, timeout=60)
        assert response.status_code == 201, response.text


def test_three_servers_six_workers_and_a_server_killed_mid_run(pg_cluster: Cluster) -> None:
    cluster = pg_cluster
    assert cluster.dsn is not None
    ports = [cluster.port, free_port(), free_port()]
    for port in ports:
        cluster.start_server(port=port)
    urls = [f"http://127.0.0.1:{port}" for port in ports]
    for number in range(6):
        home = number % 3  # each worker prefers its own server, and knows the others
        order = urls[home:] + urls[:home]
        cluster.start_worker(f"w{number}", concurrency=4, servers=order)
    total = 5000

    submit_spread(cluster, urls, total, 0.0)
    wait_for(lambda: succeeded(cluster, cluster.dsn or "") >= total // 4, 120, "a quarter done")
    cluster.kill(cluster.servers[ports[0]], signal.SIGKILL)

    wait_for(lambda: succeeded(cluster, cluster.dsn or "") == total, 240, "all jobs done")
    check_exactly_once(cluster, cluster.dsn, total)
    assert all(worker.poll() is None for worker in cluster.workers.values())
    workers = query(cluster.dsn, "SELECT DISTINCT worker FROM rota.jobs")
    assert len(workers) == 6, "every worker should have taken part"


@pytest.mark.faults
def test_postgres_restarted_mid_run_everything_recovers(cluster: Cluster, tmp_path: Path) -> None:
    database = OwnCluster()
    try:
        database.start()
        cluster.dsn = database.dsn
        second = free_port()
        cluster.start_server()
        cluster.start_server(port=second)
        urls = [cluster.url, f"http://127.0.0.1:{second}"]
        cluster.start_worker("a", concurrency=4, servers=urls)
        cluster.start_worker("b", concurrency=4, servers=urls[::-1])
        total = 600
        submit_spread(cluster, urls, total, 0.05)
        wait_for(lambda: succeeded(cluster, database.dsn) >= 100, 60, "work under way")
        assert succeeded(cluster, database.dsn) < total - 100, "the outage must hit mid-run"

        stopped_at = time.monotonic()
        database.stop()
        time.sleep(3.0)  # servers and workers see the outage
        database.start()
        back_at = time.monotonic()
        before = succeeded(cluster, database.dsn)

        wait_for(lambda: succeeded(cluster, database.dsn) > before, 60, "work to resume")
        resumed_at = time.monotonic()
        wait_for(lambda: succeeded(cluster, database.dsn) == total, 120, "all jobs done")
        done_at = time.monotonic()
        runs = len(cluster.record_file.read_text().splitlines())
        record("postgres_restart.jobs", total, "jobs", "2 servers, 2 workers of 4 slots")
        record("postgres_restart.down_s", round(back_at - stopped_at, 2), "s", "fast shutdown")
        record("postgres_restart.resumed_s", round(resumed_at - back_at, 2), "s", "back to a job")
        record("postgres_restart.all_done_s", round(done_at - back_at, 2), "s", "back to all done")
        record("postgres_restart.lost", total - succeeded(cluster, database.dsn), "jobs", "")
        record("postgres_restart.run_again", runs - total, "runs", "attempts cut by the outage")
        check_exactly_once(cluster, database.dsn, total)
        for url in urls:
            wait_for(lambda url=url: cluster._healthy(url), 30, f"{url} healthy")
        assert all(worker.poll() is None for worker in cluster.workers.values())
        assert all(server.poll() is None for server in cluster.servers.values())
    finally:
        cluster.stop()
        database.destroy()


def last_seen(dsn: str, worker: str) -> datetime:
    rows = query(dsn, "SELECT last_seen_at FROM rota.workers WHERE name = $1", worker)
    moment: datetime = rows[0][0]
    return moment


def two_servers_and_a_worker_on_the_second(cluster: Cluster) -> tuple[str, str]:
    """Start servers A and B (heartbeats far apart) and worker w on B; return their URLs."""
    # A heartbeat every 30 s: a worker that learned of a request only from its heartbeat's
    # answer would learn of it after the test has looked.
    second = free_port()
    cluster.start_server(ROTA_HEARTBEAT_S="30", ROTA_LEASE_S="120")
    cluster.start_server(port=second)  # the same settings: start_server keeps them
    there = f"http://127.0.0.1:{second}"
    cluster.start_worker("w", concurrency=1, servers=[there])
    return cluster.url, there


def test_a_cancel_through_one_server_stops_a_job_on_another_at_once(
    pg_cluster: Cluster, tmp_path: Path
) -> None:
    cluster, dsn = pg_cluster, pg_cluster.dsn or ""
    here, _ = two_servers_and_a_worker_on_the_second(cluster)
    marks = tmp_path / "marks.txt"
    job = cluster.submit({"task": "e2e.span_async", "args": [str(marks), 120.0]})
    wait_for(lambda: marks.exists() and "tick" in marks.read_text(), 30, "the job running")
    seen = last_seen(dsn, "w")

    response = httpx.delete(f"{here}/api/v1/jobs/{job['id']}", timeout=30)
    assert response.status_code == 200, response.text
    assert response.json()["stopping"] is True

    # The worker stops the code and gives the lease back: the job stops stopping.
    wait_for(lambda: not cluster.job(job["id"])["stopping"], 60, "the job's code stopped")
    assert "stop" in marks.read_text(), "the task's code must have been stopped"
    events = cluster.events(job["id"])
    assert [event["kind"] for event in events][-2:] == ["cancelled", "stopped"], events
    # Told at once, not in the answer to its next heartbeat: no heartbeat came between
    # (a worker may beat right after its code stopped, to say a slot is free).
    stopped_at = datetime.fromisoformat(events[-1]["at"])
    beat_at = last_seen(dsn, "w")
    assert beat_at == seen or beat_at >= stopped_at, (seen, beat_at, stopped_at)


def test_a_drain_through_one_server_reaches_a_worker_on_another(pg_cluster: Cluster) -> None:
    cluster = pg_cluster
    here, _ = two_servers_and_a_worker_on_the_second(cluster)
    response = httpx.post(f"{here}/api/v1/workers/w/drain", timeout=30)
    assert response.status_code == 202, response.text
    assert response.json()["told"] is True
    worker = cluster.workers["w"]
    wait_for(lambda: worker.poll() is not None, 60, "the worker to drain and exit")
    assert worker.returncode == 0
    missing = httpx.post(f"{here}/api/v1/workers/nobody/drain", timeout=30)
    assert missing.status_code == 404


def test_the_event_stream_of_one_server_shows_jobs_run_through_another(
    pg_cluster: Cluster,
) -> None:
    cluster = pg_cluster
    here, there = two_servers_and_a_worker_on_the_second(cluster)
    with httpx.stream("GET", f"{here}/api/v1/events", timeout=60) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        submitted = httpx.post(f"{there}/api/v1/jobs", json={"task": "e2e.add", "args": [1, 2]})
        assert submitted.status_code == 201, submitted.text
        job_id = submitted.json()["id"]
        states = []
        deadline = time.monotonic() + 60  # keep-alives come every 15 s: the loop looks
        for line in lines:
            assert time.monotonic() < deadline, f"no succeeded notice; saw {states}"
            if line.startswith("data: ") and job_id in line:
                states.append(json.loads(line.removeprefix("data: "))["state"])
                if states[-1] == "succeeded":
                    break
    assert states[0] == "pending" and states[-1] == "succeeded", states
