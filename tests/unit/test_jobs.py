"""The job's state machine and its JSON form."""

from __future__ import annotations

import json
from datetime import UTC, datetime

import pytest

from rota.errors import InvalidTransition
from rota.jobs import (
    FINISHED_STATES,
    TRANSITIONS,
    Event,
    Job,
    JobState,
    check_transition,
)
from rota.retry import Backoff
from rota.server.handout import job_order

ALLOWED = {
    ("pending", "running"),
    ("pending", "cancelled"),
    ("pending", "expired"),
    ("running", "succeeded"),
    ("running", "failed"),
    ("running", "cancelled"),
    ("running", "pending"),
    ("failed", "pending"),
    ("cancelled", "pending"),
    ("expired", "pending"),
}
AT = datetime(2030, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)


@pytest.mark.parametrize("source", list(JobState))
@pytest.mark.parametrize("target", list(JobState))
def test_transition_table(source: JobState, target: JobState) -> None:
    if (str(source), str(target)) in ALLOWED:
        check_transition(source, target)
    else:
        with pytest.raises(InvalidTransition, match=f"{source}.*{target}"):
            check_transition(source, target)


def test_every_state_has_an_entry() -> None:
    assert set(TRANSITIONS) == set(JobState)


def test_finished_states() -> None:
    assert {str(state) for state in FINISHED_STATES} == {
        "succeeded",
        "failed",
        "cancelled",
        "expired",
    }
    assert not JobState.PENDING.finished and not JobState.RUNNING.finished
    assert JobState.EXPIRED.finished


def make_job(**fields: object) -> Job:
    values: dict[str, object] = {
        "id": "01890000-0000-7000-8000-000000000001",
        "task": "app.add",
        "args": [1, 2],
        "kwargs": {"x": None},
        "queue": "default",
        "priority": 3,
        "state": JobState.RUNNING,
        "run_at": AT,
        "target": None,
        "max_attempts": 3,
        "backoff": Backoff(base_s=2, factor=3, max_s=10, jitter=0),
        "timeout_s": 1.5,
        "deadline_at": None,
        "idempotency_key": "k",
        "schedule_id": None,
        "attempt": 1,
        "lease_token": "secret-token",
        "lease_expires_at": AT,
        "worker": "w1",
        "created_at": AT,
        "updated_at": AT,
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def test_to_dict_is_json_and_hides_the_lease_token() -> None:
    data = make_job().to_dict()
    assert "lease_token" not in data
    assert "secret-token" not in json.dumps(data)
    assert data["state"] == "running" and type(data["state"]) is str
    assert data["run_at"] == "2030-01-02T03:04:05.678000+00:00"
    assert data["started_at"] is None
    assert data["backoff"] == {"base_s": 2, "factor": 3, "max_s": 10, "jitter": 0}
    assert data["args"] == [1, 2] and data["kwargs"] == {"x": None}
    assert data["lease_expires_at"] == AT.isoformat()


def test_to_dict_has_every_field_but_the_token_and_says_if_it_is_stopping() -> None:
    data = make_job().to_dict()
    assert set(data) == set(Job.__slots__) - {"lease_token"} | {"stopping"}
    assert data["stopping"] is False and data["stop_requested_at"] is None
    stopping = make_job(stop_requested_at=AT).to_dict()
    assert stopping["stopping"] is True and stopping["stop_requested_at"] == AT.isoformat()


@pytest.mark.parametrize(
    ("max_attempts", "attempt", "left"), [(3, 0, 3), (3, 2, 1), (3, 3, 0), (1, 5, 0)]
)
def test_attempts_left(max_attempts: int, attempt: int, left: int) -> None:
    assert make_job(max_attempts=max_attempts, attempt=attempt).attempts_left == left


def test_a_retried_round_counts_on_from_the_attempts_before_it() -> None:
    job = make_job(max_attempts=3, attempt=4, prior_attempts=3)
    assert (job.round_attempt, job.last_attempt, job.attempts_left) == (1, 6, 2)
    assert job.to_dict()["prior_attempts"] == 3
    # The worker is told the last number `attempt` reaches, as the task sees both.
    job = make_job(max_attempts=3, attempt=4, prior_attempts=3, lease_token="t")
    assert (job_order(job).attempt, job_order(job).max_attempts) == (4, 6)


def test_event_to_dict() -> None:
    event = Event(job_id="j", attempt=2, at=AT, kind="log", worker="w", message="hi", id=7)
    assert event.to_dict() == {
        "id": 7,
        "job_id": "j",
        "attempt": 2,
        "at": AT.isoformat(),
        "kind": "log",
        "worker": "w",
        "message": "hi",
    }
