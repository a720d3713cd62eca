"""The lifecycle rules on their own: no store, only Jobs and moments."""

from __future__ import annotations

import random
from dataclasses import replace
from datetime import UTC, datetime, timedelta

import pytest

from rota.jobs import Job, JobState
from rota.lifecycle import (
    EventKind,
    FailForGood,
    RetryLater,
    after_failure,
    after_lost_lease,
    cancelled_message,
    dispatch_key,
    is_due,
    is_overdue,
    progress_message,
    reaped_message,
    started_message,
    stopped_message,
    updated_message,
)
from rota.retry import Backoff

NOW = datetime(2030, 1, 1, tzinfo=UTC)
EXACT = Backoff(base_s=10, factor=2, max_s=300, jitter=0)


def running(**fields: object) -> Job:
    values: dict[str, object] = {
        "id": "01890000-0000-7000-8000-000000000001",
        "task": "t.x",
        "args": [],
        "kwargs": {},
        "queue": "default",
        "priority": 0,
        "state": JobState.RUNNING,
        "run_at": NOW - timedelta(seconds=100),
        "target": None,
        "max_attempts": 3,
        "backoff": EXACT,
        "timeout_s": None,
        "deadline_at": None,
        "idempotency_key": None,
        "schedule_id": None,
        "attempt": 1,
        "lease_token": "token",
        "lease_expires_at": NOW,
        "worker": "w1",
        "created_at": NOW - timedelta(seconds=100),
        "updated_at": NOW,
    }
    values.update(fields)
    return Job(**values)  # type: ignore[arg-type]


def test_a_failure_with_attempts_left_retries_after_the_backoff_of_its_round() -> None:
    decision = after_failure(running(attempt=2), error="boom", traceback="tb")
    assert isinstance(decision, RetryLater)
    assert decision.delay_s == 20  # the second attempt of the round: base_s * factor
    assert (decision.kind, decision.state) == (EventKind.RETRYING, JobState.PENDING)
    assert (decision.error, decision.traceback) == ("boom", "tb")
    assert decision.message == "retrying in 20.0s after: boom"
    assert decision.run_at(running(), NOW) == NOW + timedelta(seconds=20)


def test_the_backoff_counts_within_the_round() -> None:
    # A manual retry started a new round at attempt 3: attempt 4 is its first.
    decision = after_failure(running(attempt=4, prior_attempts=3), error="boom")
    assert isinstance(decision, RetryLater) and decision.delay_s == 10


def test_the_last_attempt_fails_for_good() -> None:
    decision = after_failure(running(attempt=3), error="boom", traceback="tb")
    assert isinstance(decision, FailForGood)
    assert (decision.kind, decision.state) == (EventKind.FAILED, JobState.FAILED)
    assert (decision.error, decision.traceback, decision.message) == ("boom", "tb", "boom")


def test_a_failure_that_must_not_be_retried_fails_for_good() -> None:
    decision = after_failure(running(attempt=1), error="bad input", retryable=False)
    assert isinstance(decision, FailForGood)


def test_jitter_comes_from_the_given_source() -> None:
    policy = Backoff(base_s=100, factor=2, max_s=1000, jitter=0.5)
    job = running(backoff=policy)
    first = after_failure(job, error="x", rng=random.Random(3))
    second = after_failure(job, error="x", rng=random.Random(3))
    assert isinstance(first, RetryLater) and isinstance(second, RetryLater)
    assert first.delay_s == second.delay_s
    assert first.delay_s is not None and 50 <= first.delay_s <= 100


def test_a_lost_lease_goes_back_to_its_place_in_line_without_a_backoff() -> None:
    job = running(attempt=1)
    decision = after_lost_lease(job)
    assert isinstance(decision, RetryLater) and decision.delay_s is None
    assert decision.run_at(job, NOW) == job.run_at  # not NOW, nor later: its place in line
    assert decision.message.startswith("retrying at once, in its place in line, after: ")


def test_a_lost_lease_counts_as_an_attempt() -> None:
    last = after_lost_lease(running(attempt=3))
    assert isinstance(last, FailForGood)
    assert last.error == "the lease expired: worker w1 stopped answering before the job finished"


def test_the_words_of_the_log() -> None:
    job = running(attempt=4, prior_attempts=3)
    assert started_message(job) == "attempt 4 of 6"
    assert reaped_message(job) == "the lease held by worker w1 expired"
    assert reaped_message(replace(job, worker=None)) == "the lease held by worker unknown expired"
    assert progress_message(0.25, None) == "25%"
    assert progress_message(0.25, "a quarter") == "a quarter"
    assert progress_message(None, None) is None
    assert updated_message(["run_at", "priority"]) == "changed run_at, priority"
    assert updated_message([]) == "nothing changed"
    assert cancelled_message(job) is None
    stopping = replace(job, state=JobState.CANCELLED, stop_requested_at=NOW)
    assert cancelled_message(stopping) == (
        "worker w1 was asked to stop attempt 4; it holds the lease until the code has stopped"
    )
    assert stopped_message(job) == "the code of attempt 4 stopped on worker w1; the lease ended"


@pytest.mark.parametrize(
    ("run_in_s", "deadline_in_s", "due", "overdue"),
    [
        (0, None, True, False),
        (1, None, False, False),
        (-5, 0, False, True),
        (-5, 1, True, False),
    ],
)
def test_due_and_overdue(
    run_in_s: float, deadline_in_s: float | None, due: bool, overdue: bool
) -> None:
    job = running(
        state=JobState.PENDING,
        run_at=NOW + timedelta(seconds=run_in_s),
        deadline_at=None if deadline_in_s is None else NOW + timedelta(seconds=deadline_in_s),
    )
    assert (is_due(job, NOW), is_overdue(job, NOW)) == (due, overdue)
    assert not is_due(replace(job, state=JobState.RUNNING), NOW)
    assert not is_overdue(replace(job, state=JobState.RUNNING), NOW)


def test_dispatch_order_is_priority_then_run_at_then_submission() -> None:
    a = running(id="a", priority=0, run_at=NOW)
    b = running(id="b", priority=5, run_at=NOW)
    c = running(id="c", priority=5, run_at=NOW - timedelta(seconds=1))
    d = running(id="d", priority=5, run_at=NOW - timedelta(seconds=1))
    assert [job.id for job in sorted([a, b, d, c], key=dispatch_key)] == ["c", "d", "b", "a"]


def test_event_kinds_are_their_words() -> None:
    assert EventKind("retrying") is EventKind.RETRYING
    assert EventKind.LOG == "log"
