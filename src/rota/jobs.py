"""The job: its states, its fields and the transitions allowed between states."""

from __future__ import annotations

import enum
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from rota.errors import InvalidTransition
from rota.retry import DEFAULT_BACKOFF, Backoff
from rota.types import JSON, JobId
from rota.values import readable


class JobState(enum.StrEnum):
    """Where a job is in its life."""

    PENDING = "pending"
    RUNNING = "running"
    SUCCEEDED = "succeeded"
    FAILED = "failed"
    CANCELLED = "cancelled"
    EXPIRED = "expired"

    @property
    def finished(self) -> bool:
        """Tell whether the job can no longer change by itself."""
        return self in FINISHED_STATES


FINISHED_STATES = frozenset(
    {JobState.SUCCEEDED, JobState.FAILED, JobState.CANCELLED, JobState.EXPIRED}
)

# Every edge of the state machine. A store must refuse any other.
TRANSITIONS: dict[JobState, frozenset[JobState]] = {
    JobState.PENDING: frozenset({JobState.RUNNING, JobState.CANCELLED, JobState.EXPIRED}),
    JobState.RUNNING: frozenset(
        {
            JobState.SUCCEEDED,
            JobState.FAILED,
            JobState.CANCELLED,
            JobState.PENDING,  # a retry after a failed attempt, a reaped lease, a release
        }
    ),
    JobState.SUCCEEDED: frozenset(),
    JobState.FAILED: frozenset({JobState.PENDING}),  # manual retry
    JobState.CANCELLED: frozenset({JobState.PENDING}),  # manual retry
    JobState.EXPIRED: frozenset({JobState.PENDING}),  # manual retry
}


def check_transition(source: JobState, target: JobState) -> None:
    """Raise InvalidTransition unless the state machine allows source -> target."""
    if target not in TRANSITIONS[source]:
        raise InvalidTransition(f"a {source} job cannot become {target}")


DEFAULT_QUEUE = "default"
QUEUE_PATTERN = r"^[A-Za-z0-9_.:-]{1,100}$"
"""What a queue's name may be, wherever one is given (a job, a schedule, a worker)."""
WORKER_NAME_PATTERN = r"^[A-Za-z0-9_.:@-]{1,200}$"
"""What a worker's name may be (its hello, its settings)."""
MAX_TAG_CHARS = 200
_VALUES = frozenset({"args", "kwargs", "result"})
DEFAULT_MAX_ATTEMPTS = 3


@dataclass(frozen=True, kw_only=True, slots=True)
class JobSpec:
    """What a client asks for: a job that does not exist yet."""

    task: str
    args: list[JSON] = field(default_factory=list)
    kwargs: dict[str, JSON] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    run_at: datetime | None = None
    """When the job becomes due; None means now (the store's clock)."""
    target: str | None = None
    """A worker name or a worker tag; only matching workers may run the job."""
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    backoff: Backoff = DEFAULT_BACKOFF
    timeout_s: float | None = None
    deadline_at: datetime | None = None
    """If the job has not started by then it becomes expired."""
    idempotency_key: str | None = None
    schedule_id: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Job:
    """A job as stored: its spec plus everything that happened to it."""

    id: JobId
    task: str
    args: list[JSON]
    kwargs: dict[str, JSON]
    queue: str
    priority: int
    state: JobState
    run_at: datetime
    target: str | None
    max_attempts: int
    backoff: Backoff
    timeout_s: float | None
    deadline_at: datetime | None
    idempotency_key: str | None
    schedule_id: str | None
    attempt: int
    """How many times the job has been claimed, over all its rounds (0 before the first):
    each attempt has a number of its own, even across manual retries and releases."""
    prior_attempts: int = 0
    """The claims that do not count against the current round: those made before it began
    (a manual retry starts a round of `max_attempts` fresh claims, numbered on from
    `attempt`) and those released unfinished since (each moves the round's start up one)."""
    lease_token: str | None
    lease_expires_at: datetime | None
    worker: str | None
    result: JSON = None
    error: str | None = None
    traceback: str | None = None
    progress: float | None = None
    progress_message: str | None = None
    """The task's message with its last progress report (None if it gave none); cleared,
    like `progress`, when an attempt starts."""
    created_at: datetime
    updated_at: datetime
    started_at: datetime | None = None
    finished_at: datetime | None = None
    stop_requested_at: datetime | None = None
    """When the running attempt was asked to stop (cancelled, timed out, drained) while its
    code still runs; None once the code stopped and the lease ended."""

    @property
    def stopping(self) -> bool:
        """Tell whether an attempt's code was asked to stop and its worker still holds the
        lease: until it stops, the job can be neither retried nor leased again."""
        return self.stop_requested_at is not None

    @property
    def attempts_left(self) -> int:
        """Return how many more claims the job may have before it fails for good."""
        return max(0, self.last_attempt - self.attempt)

    @property
    def last_attempt(self) -> int:
        """Return the number of the last attempt the current round may make."""
        return self.prior_attempts + self.max_attempts

    @property
    def round_attempt(self) -> int:
        """Return the current attempt's place in its round (1 for its first claim)."""
        return self.attempt - self.prior_attempts

    def to_dict(self) -> dict[str, Any]:
        """Return the job as JSON-ready data (times in ISO 8601, the lease token left out).

        Args, kwargs and result are shown as rota.values.readable makes them, so a value
        stored before today's checks (a lone surrogate, deep nesting) can still be read.
        """
        data: dict[str, Any] = {}
        for name in self.__slots__:
            if name == "lease_token":
                continue
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif name in _VALUES:
                value = readable(value)
            elif isinstance(value, Backoff):
                value = {
                    "base_s": value.base_s,
                    "factor": value.factor,
                    "max_s": value.max_s,
                    "jitter": value.jitter,
                }
            data[name] = value
        data["state"] = str(self.state)
        data["stopping"] = self.stopping
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Event:
    """One line of the execution log: a transition or something a task logged."""

    job_id: JobId
    attempt: int
    at: datetime
    kind: str
    """One of rota.lifecycle.EventKind: submitted, started, succeeded, retrying, failed,
    cancelled, expired, released, reaped, retried, updated, progress, log, stopping, stopped."""
    worker: str | None = None
    message: str | None = None
    id: int | None = None

    def to_dict(self) -> dict[str, Any]:
        """Return the event as JSON-ready data."""
        return {
            "id": self.id,
            "job_id": self.job_id,
            "attempt": self.attempt,
            "at": self.at.isoformat(),
            "kind": self.kind,
            "worker": self.worker,
            "message": self.message,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Lease:
    """A running job as its worker holds it: the proof it must present."""

    job_id: JobId
    token: str
