"""The CLI against a real server and workers."""

from __future__ import annotations

import hashlib
import os
import subprocess

from tests.e2e.conftest import ROTA, Cluster


def rota(
    cluster: Cluster, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROTA, "--server", cluster.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        env=None if env is None else {**os.environ, **env},
    )


def test_submit_and_wait_prints_the_result(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    done = rota(cluster, "submit", "rota.sha256", "Hello", "--wait")
    assert done.returncode == 0, done.stderr
    assert hashlib.sha256(b"Hello").hexdigest() in done.stdout


def test_jobs_commands(cluster: Cluster) -> None:
    cluster.start_server()
    submitted = rota(cluster, "submit", "e2e.add", "1", "2", "--delay", "60")
    assert submitted.returncode != 0  # no worker has announced e2e.add yet
    assert "unknown task" in submitted.stderr.lower()
    assert "Traceback" not in submitted.stderr

    cluster.start_worker("w1")
    submitted = rota(cluster, "submit", "e2e.add", "1", "2", "--delay", "60")
    assert submitted.returncode == 0, submitted.stderr
    job_id = next(word for word in submitted.stdout.split() if word.count("-") == 4)

    listing = rota(cluster, "jobs", "ls")
    assert listing.returncode == 0 and job_id[-12:] in listing.stdout, listing.stdout
    shown = rota(cluster, "jobs", "show", job_id)
    assert shown.returncode == 0 and "pending" in shown.stdout, shown.stdout
    cancelled = rota(cluster, "jobs", "cancel", job_id)
    assert cancelled.returncode == 0, cancelled.stderr
    assert cluster.job(job_id)["state"] == "cancelled"
    logs = rota(cluster, "jobs", "logs", job_id)
    assert logs.returncode == 0 and "cancelled" in logs.stdout, logs.stdout

    missing = rota(cluster, "jobs", "show", "0190f5c2-0000-7000-8000-000000000000")
    assert missing.returncode == 1
    assert missing.stderr.startswith("rota: error:") and "Traceback" not in missing.stderr


def test_submit_at_a_skipped_local_time_says_the_zone_and_runs_after_the_gap(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    submitted = rota(
        cluster,
        "submit",
        "rota.echo",
        "hi",
        "--at",
        "2027-03-28T02:30",
        env={"TZ": "Europe/Berlin"},
    )
    assert submitted.returncode == 0, submitted.stderr
    job = cluster.job(submitted.stdout.strip())
    assert job["run_at"] == "2027-03-28T01:00:00+00:00"  # 03:00 in Berlin, when the gap ends
    assert "read 2027-03-28T02:30 as Europe/Berlin time" in submitted.stderr
