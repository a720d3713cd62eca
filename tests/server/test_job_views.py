"""A submission's answer (job_body) is exactly what the JobOut model makes of a job."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rota.jobs import Job, JobState
from rota.retry import Backoff
from rota.server.api.job_views import job_body
from rota.server.api.models import JobOut

NOW = datetime(2030, 1, 2, 3, 4, 5, 678_000, tzinfo=UTC)


def job(**fields: Any) -> Job:
    values: dict[str, Any] = {
        "id": "0190d1c2-0000-7000-8000-000000000001",
        "task": "app.add",
        "args": [1, 2.5, "é"],
        "kwargs": {"x": {"y": [None, True]}},
        "queue": "default",
        "priority": 0,
        "state": JobState.PENDING,
        "run_at": NOW,
        "max_attempts": 3,
        "backoff": Backoff(base_s=1, factor=2, max_s=60, jitter=0),
        "created_at": NOW,
        "updated_at": NOW,
        "target": None,
        "timeout_s": None,
        "deadline_at": None,
        "idempotency_key": None,
        "schedule_id": None,
        "attempt": 0,
        "lease_token": None,
        "lease_expires_at": None,
        "worker": None,
    }
    values.update(fields)
    return Job(**values)


JOBS = {
    "pending": job(),
    "integers where floats are due": job(timeout_s=30, idempotency_key="k", target="gpu"),
    "running with progress": job(
        state=JobState.RUNNING,
        attempt=1,
        worker="w1",
        lease_token="t",
        lease_expires_at=NOW + timedelta(seconds=30),
        started_at=NOW,
        progress=1,
        progress_message="half",
    ),
    "succeeded": job(
        state=JobState.SUCCEEDED, attempt=1, result={"sum": 3}, finished_at=NOW, schedule_id="s1"
    ),
    "failed": job(state=JobState.FAILED, attempt=3, error="boom", traceback="tb", finished_at=NOW),
}


@pytest.mark.parametrize("name", list(JOBS))
@pytest.mark.parametrize(("warning", "schedule_name"), [(None, None), ("no worker", "nightly")])
def test_job_body_is_the_models_dump(
    name: str, warning: str | None, schedule_name: str | None
) -> None:
    made = job_body(JOBS[name], warning=warning, schedule_name=schedule_name)
    dumped = JobOut.of(JOBS[name], warning=warning, schedule_name=schedule_name).model_dump()
    assert json.dumps(made) == json.dumps(dumped)
