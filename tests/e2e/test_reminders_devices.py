"""Reminders made with `rota remind` on real devices: late after an absence, expired after
their deadline, spread evenly over the online devices, each ringing exactly once across them
when a device leaves, and submissions that stay quick with devices online."""

from __future__ import annotations

import json
import signal
import subprocess
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from tests.e2e.conftest import ROTA, Cluster, wait_for
from tests.e2e.test_device import audio_dir, chimes, held_ids, start_device, written_at


def remind(cluster: Cluster, *args: str) -> list[dict[str, Any]]:
    """Run `rota remind ... --json` as a user would; return the jobs it made."""
    done = subprocess.run(
        [ROTA, "--server", cluster.url, "remind", *args, "--json"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    jobs: list[dict[str, Any]] = json.loads(done.stdout)["jobs"]
    return jobs


def chimes_of(cluster: Cluster, name: str) -> list[Path]:
    return sorted(audio_dir(cluster, name).glob("*.wav"))


def sleep_until(moment: datetime) -> None:
    time.sleep(max(0.0, (moment - datetime.now(UTC)).total_seconds()))


def test_a_device_offline_at_the_due_time_rings_it_on_reconnect_marked_late(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    [job] = remind(cluster, "Stand-up", "--at", "in 2s", "--device", "laptop")
    due_at = datetime.fromisoformat(job["run_at"])
    sleep_until(due_at + timedelta(seconds=2))  # the laptop is off at the due time
    assert cluster.job(job["id"])["state"] == "pending"
    back_at = datetime.now(UTC)
    start_device(cluster, "laptop")
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded", done
    result = done["result"]
    assert datetime.fromisoformat(result["due_at"]) == due_at
    assert result["late"] is True and result["device"] == "laptop"
    assert result["late_s"] >= (back_at - due_at).total_seconds()
    assert len(chimes(cluster, job["id"])) == 1


def test_a_reminder_past_its_deadline_ends_expired_and_never_rings(cluster: Cluster) -> None:
    cluster.start_server()
    [job] = remind(cluster, "Stand-up", "--at", "in 2s", "--device", "laptop", "--deadline", "1s")
    due_at = datetime.fromisoformat(job["run_at"])
    assert datetime.fromisoformat(job["deadline_at"]) == due_at + timedelta(seconds=1)
    done = cluster.wait_finished(job["id"])  # no laptop online
    assert done["state"] == "expired", done
    start_device(cluster, "laptop")
    time.sleep(1.5)  # a device that comes back now must not ring it
    assert cluster.job(job["id"])["state"] == "expired"
    assert chimes(cluster, job["id"], "laptop") == []


def test_any_device_spreads_evenly_and_a_device_leaving_loses_none_rings_none_twice(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    names = ["laptop", "desktop", "pi"]
    # Made before the devices start; each comes within their 20 s horizon in turn.
    first_due = datetime.now(UTC).replace(microsecond=0) + timedelta(seconds=60)
    jobs = []
    for index in range(30):
        body = {
            "text": f"Reminder {index}",
            "at": (first_due + timedelta(seconds=0.4 * index)).isoformat(),
            "any_device": True,
        }
        response = cluster.request("POST", "/api/v1/reminders", json=body)
        assert response.status_code == 201, response.text
        jobs += response.json()["jobs"]
    assert {job["target"] for job in jobs} == {"device"}
    ids = {job["id"] for job in jobs}
    devices = {name: start_device(cluster, name, "--horizon", "20s") for name in names}
    assert datetime.now(UTC) < first_due - timedelta(seconds=20), "the devices started late"
    # Handed over ahead of time, ten to each device.
    wait_for(
        lambda: sum(len(held_ids(cluster, name)) for name in names) == 30,
        (first_due - datetime.now(UTC)).total_seconds(),
        "every reminder to be held before the first is due",
    )
    held = {name: set(held_ids(cluster, name)) for name in names}
    assert datetime.now(UTC) < first_due
    assert sorted(len(ids_held) for ids_held in held.values()) == [10, 10, 10]
    assert set().union(*held.values()) == ids
    # The pi leaves a few seconds into the run, with most of its reminders still to ring:
    # it hands those back, drops them from its file, rings none of them and exits promptly.
    sleep_until(first_due + timedelta(seconds=3))
    pi = devices["pi"]
    pi.send_signal(signal.SIGTERM)
    assert pi.wait(timeout=15) == 0, "the pi did not leave cleanly"
    pi_left = datetime.now(UTC)
    assert held_ids(cluster, "pi") == []
    finished = [cluster.wait_finished(job_id, timeout_s=60) for job_id in sorted(ids)]
    assert [job["state"] for job in finished] == ["succeeded"] * 30
    rang_on = Counter(job["result"]["device"] for job in finished)
    assert set(rang_on) <= set(names) and sum(rang_on.values()) == 30
    assert rang_on["pi"] < 10  # the rest of the pi's went to the others
    # Every reminder rang exactly once across all devices, and the pi rang none after it left.
    for job_id in ids:
        rang = [len(chimes(cluster, job_id, name)) for name in names]
        assert sum(rang) == 1, (job_id, rang)
    assert all(written_at(path) <= pi_left for path in chimes_of(cluster, "pi"))
    assert len(chimes_of(cluster, "pi")) == rang_on["pi"]


def test_submissions_stay_quick_with_two_devices_online(cluster: Cluster) -> None:
    # Two devices of 10,000 slots each once made every claim round 20,000 one-slot claims
    # in one write transaction: a submission waited 1 to 2.5 s behind it on SQLite.
    cluster.start_server()
    for name in ["laptop", "desktop"]:
        start_device(cluster, name)
    took = []
    for index in range(7):
        started = time.monotonic()
        response = cluster.request(
            "POST", "/api/v1/jobs", json={"task": "rota.echo", "args": [index]}
        )
        took.append(time.monotonic() - started)
        assert response.status_code == 201, response.text
        time.sleep(0.3)  # let a claim round begin in between
    assert sorted(took)[len(took) // 2] < 0.5, took
