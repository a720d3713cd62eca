"""The decisions of a job's life, made once for every store.

A store applies these decisions as fenced writes; it never decides by itself. After an
attempt ends without success the rules here say whether the job goes back to pending (and
when) or fails for good (the dead-letter state `failed`), and with which words the execution
log says so. Everything here is a pure function of a Job and the moment given; the only
randomness is the backoff's jitter, whose source can be injected.

Anchors: River's job executor and Oban's engine decide what an outcome means and hand the
driver a finished instruction; every driver only applies it.
"""

from __future__ import annotations

import enum
import random
from dataclasses import dataclass
from datetime import datetime, timedelta

from rota.jobs import Job, JobState
from rota.retry import delay_s


class EventKind(enum.StrEnum):
    """What a line of the execution log records: a transition, or something a task said."""

    SUBMITTED = "submitted"
    STARTED = "started"
    SUCCEEDED = "succeeded"
    RETRYING = "retrying"
    """A failed attempt with attempts left: pending again (after a backoff, or at once in
    its place in line when the attempt's worker was lost)."""
    FAILED = "failed"
    """The last attempt failed, or a failure that must not be retried: the dead-letter state."""
    CANCELLED = "cancelled"
    EXPIRED = "expired"
    RELEASED = "released"
    REAPED = "reaped"
    RETRIED = "retried"
    """A manual retry of a finished job: a new round of attempts."""
    UPDATED = "updated"
    PROGRESS = "progress"
    LOG = "log"
    STOPPING = "stopping"
    STOPPED = "stopped"


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryLater:
    """Put the job back to pending: after `delay_s`, or, when `delay_s` is None, at once in
    its original place in line (its run_at is kept, so it sorts before jobs that came later).
    """

    delay_s: float | None
    error: str
    traceback: str | None
    message: str
    """The words of the `retrying` event."""

    kind: EventKind = EventKind.RETRYING
    state: JobState = JobState.PENDING

    def run_at(self, job: Job, now: datetime) -> datetime:
        """Return the job's run_at once this decision is applied at `now`."""
        if self.delay_s is None:
            return job.run_at
        return now + timedelta(microseconds=round(self.delay_s * 1_000_000))


@dataclass(frozen=True, kw_only=True, slots=True)
class FailForGood:
    """End the job as failed (the dead-letter state); no attempt is left or may be made."""

    error: str
    traceback: str | None
    message: str
    """The words of the `failed` event: the error."""

    kind: EventKind = EventKind.FAILED
    state: JobState = JobState.FAILED


Decision = RetryLater | FailForGood
"""What becomes of a running job whose attempt ended without success."""


def after_failure(
    job: Job,
    *,
    error: str,
    traceback: str | None = None,
    retryable: bool = True,
    rng: random.Random | None = None,
) -> Decision:
    """Decide what a failed (or timed-out) attempt of the running `job` leads to.

    With attempts left in the round and a retryable error, the job retries after the
    backoff of its place in the round (exponential, capped, with jitter: rota.retry);
    otherwise it fails for good.
    """
    if retryable and job.attempts_left > 0:
        wait_s = delay_s(max(job.round_attempt, 1), job.backoff, rng=rng)
        return RetryLater(
            delay_s=wait_s,
            error=error,
            traceback=traceback,
            message=f"retrying in {wait_s:.1f}s after: {error}",
        )
    return FailForGood(error=error, traceback=traceback, message=error)


def after_lost_lease(job: Job) -> Decision:
    """Decide what a running job whose lease expired (its worker died, stalled or went
    away) leads to.

    The attempt counts, so a task that kills its worker every time ends failed rather than
    looping. With attempts left, the job was not at fault for the wait: it goes back to its
    original place in line (run_at unchanged, no backoff), so it runs again as soon as a
    slot is free instead of waiting behind every job submitted after it.
    """
    error = lost_lease_error(job)
    if job.attempts_left > 0:
        return RetryLater(
            delay_s=None,
            error=error,
            traceback=None,
            message=f"retrying at once, in its place in line, after: {error}",
        )
    return FailForGood(error=error, traceback=None, message=error)


def lost_lease_error(job: Job) -> str:
    """Return the error a job is left with when its lease expired."""
    who = job.worker or "unknown"
    return f"the lease expired: worker {who} stopped answering before the job finished"


def reaped_message(job: Job) -> str:
    """Return the words of a `reaped` event: whose lease ran out."""
    return f"the lease held by worker {job.worker or 'unknown'} expired"


HELD_AHEAD_NOTE = "; handed over ahead, its code starts at its run_at"
"""Added to a `started` event's words when the job was claimed before its run_at (within a
worker's lead or a device's horizon): the event is the claim, started_at the start."""


def started_message(job: Job) -> str:
    """Return the words of a `started` event for a job just claimed: "attempt N of M", M
    being the last attempt of the current round, and a note when it was claimed ahead of
    its run_at (its started_at, then, is after the claim's updated_at)."""
    words = f"attempt {job.attempt} of {job.last_attempt}"
    if job.started_at is not None and job.started_at > job.updated_at:
        words += HELD_AHEAD_NOTE
    return words


def progress_message(progress: float | None, message: str | None) -> str | None:
    """Return the words of a `progress` event: the task's own, else the fraction in percent."""
    if message is None and progress is not None:
        return f"{progress:.0%}"
    return message


EXPIRED_MESSAGE = "the deadline passed before it started"
"""The words of an `expired` event."""


def is_overdue(job: Job, now: datetime) -> bool:
    """Tell whether a pending job's deadline has passed, so it must expire unstarted."""
    return job.state is JobState.PENDING and job.deadline_at is not None and job.deadline_at <= now


def is_due(job: Job, now: datetime, *, horizon_s: float = 0.0, lead_s: float = 0.0) -> bool:
    """Tell whether a pending job may be claimed now: its run_at has come (or comes within
    `lead_s`: a worker takes a delayed job that long ahead and starts it by its own timer at
    its run_at) and its deadline has not. A job with a target may be claimed up to
    `horizon_s` early, by a worker that holds jobs until their time (a device and its
    reminders)."""
    ahead_s = max(lead_s, horizon_s) if job.target is not None else lead_s
    return (
        job.state is JobState.PENDING
        and job.run_at <= now + timedelta(seconds=max(0.0, ahead_s))
        and (job.deadline_at is None or job.deadline_at > now)
    )


def start_moment(job: Job, now: datetime) -> datetime:
    """Return the started_at of a job claimed at `now`: now, or its run_at when it was
    claimed ahead of it (the worker holds it and starts it then, never before)."""
    return max(now, job.run_at)


def held_ahead(job: Job, now: datetime) -> bool:
    """Tell whether a running job was claimed ahead of its run_at and is not due yet (a
    device holds it until then): an edit may take it back, as if it had not been claimed."""
    return (
        job.state is JobState.RUNNING
        and job.lease_token is not None
        and job.stop_requested_at is None
        and job.run_at > now
    )


EDIT_MARGIN_S = 1.0
"""How far off its run_at a held job must be for an edit to take it back (seconds).

The holder hears of the edit by a message (its lease is called stale) and must hear it
before the run_at at which it would start the old version; closer to the start the edit is
refused as for a running job, so the old version and the edited one never both run."""


def editable_held(job: Job, now: datetime) -> bool:
    """Tell whether an edit may take a held job back: held_ahead, with its run_at at least
    EDIT_MARGIN_S after `now`."""
    return held_ahead(job, now + timedelta(seconds=EDIT_MARGIN_S))


def dispatch_key(job: Job) -> tuple[int, datetime, str]:
    """Return the sort key of dispatch order: priority (higher first), then run_at, then
    submission order (ids increase with submission)."""
    return (-job.priority, job.run_at, job.id)


def cancelled_message(job: Job) -> str | None:
    """Return the words of a `cancelled` event: who still has to stop the job's code."""
    if not job.stopping:
        return None
    return (
        f"worker {job.worker} was asked to stop attempt {job.attempt}; it holds the lease "
        "until the code has stopped"
    )


def stopped_message(job: Job) -> str:
    """Return the words of a `stopped` event: the code of a cancelled attempt ended."""
    return f"the code of attempt {job.attempt} stopped on worker {job.worker}; the lease ended"


def updated_message(changed: list[str]) -> str:
    """Return the words of an `updated` event, naming the fields that changed."""
    return "changed " + ", ".join(changed) if changed else "nothing changed"
