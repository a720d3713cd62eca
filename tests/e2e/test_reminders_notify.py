"""Reminders for phones and chat: a real worker sends them with Apprise to a local endpoint;
recurring reminders reach the store ahead of their time."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from tests.e2e.conftest import Cluster, wait_for
from tests.reminders.hook import Hook


@pytest.fixture
def hook() -> Iterator[Hook]:
    made = Hook(failures=1)
    yield made
    made.close()


def remind(cluster: Cluster, **body: Any) -> dict[str, Any]:
    response = cluster.request("POST", "/api/v1/reminders", json=body)
    assert response.status_code == 201, response.text
    made: dict[str, Any] = response.json()
    return made


def test_a_worker_sends_the_reminder_and_a_failed_send_is_retried(
    cluster: Cluster, hook: Hook
) -> None:
    cluster.start_server()
    cluster.start_worker("phone-sender")
    [job] = remind(cluster, text="Stand-up", at="in 1s", notify=[hook.url])["jobs"]
    assert (job["queue"], job["target"]) == ("default", None)
    done = cluster.wait_finished(job["id"], timeout_s=60)
    assert done["state"] == "succeeded", done
    assert done["attempt"] == 2  # the endpoint refused the first send: retried with backoff
    result = done["result"]
    assert result["device"] is None and result["via"] == ["notify:json"]
    # Due when the worker was told: the retry's run_at (after the backoff).
    assert datetime.fromisoformat(result["due_at"]) == datetime.fromisoformat(done["run_at"])
    assert result["due_at"] <= result["rung_at"]
    assert [(body["title"], body["message"]) for body in hook.bodies] == [
        ("Reminder", "Stand-up"),
        ("Reminder", "Stand-up"),
    ]
    first = cluster.get(f"/api/v1/jobs/{job['id']}/attempts")["attempts"][0]
    assert "could not notify json://127.0.0.1/" in first["error"]


def test_a_recurring_reminder_is_written_a_device_horizon_ahead(cluster: Cluster) -> None:
    cluster.start_server()
    start = datetime.now(UTC).replace(microsecond=0) + timedelta(minutes=5)
    made = remind(
        cluster, text="Stretch", at=start.isoformat(), every=3600, device="laptop", name="stretch"
    )
    [schedule] = made["schedules"]
    assert schedule["lookahead_s"] == 600
    # No device is online, yet the occurrence 5 minutes away is already a pending job.
    [job] = wait_for(lambda: cluster.all_jobs(task="rota.remind"), 30, "the occurrence")
    assert job["state"] == "pending" and job["target"] == "device:laptop"
    assert datetime.fromisoformat(job["run_at"]) == start
    assert job["schedule_name"] == "stretch"
