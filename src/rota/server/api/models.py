"""Response bodies of the REST API: pydantic models, so that /openapi.json states what each
route answers, errors included (tests/server/test_openapi_contract.py holds the server to it).

Moments are ISO 8601 text with an offset (as `datetime.isoformat` writes them), spans are
seconds in fields named `*_s`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rota.jobs import Job, JobState
from rota.server.api.fields import Moment
from rota.server.api.json_values import JsonList, JsonObject, JsonValue
from rota.server.api.schemas import ShortText
from rota.server.errors import error_responses
from rota.store.base import WorkerState


class Out(BaseModel):
    """A response body: closed (no key but its fields) and every field always sent, so
    /openapi.json says exactly what comes back."""

    model_config = ConfigDict(extra="forbid", json_schema_serialization_defaults_required=True)


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the `responses` of a route that may answer these error statuses besides the
    ones every route may answer (COMMON_ERRORS, declared once for the whole API)."""
    return error_responses(*statuses)


class BackoffOut(Out):
    base_s: float
    factor: float
    max_s: float
    jitter: float


class JobOut(Out):
    """A job as stored, with what the server can tell about it besides."""

    id: str
    task: str
    args: JsonList
    kwargs: JsonObject
    queue: str
    priority: int
    state: JobState
    run_at: str
    target: str | None
    max_attempts: int
    backoff: BackoffOut
    timeout_s: float | None
    deadline_at: str | None
    idempotency_key: str | None
    schedule_id: str | None
    schedule_name: str | None = Field(
        default=None, description="the name of the schedule that made the job, if it still exists"
    )
    attempt: int
    prior_attempts: int
    lease_expires_at: str | None
    worker: str | None
    result: JsonValue = None
    error: str | None
    traceback: str | None
    progress: float | None
    progress_message: str | None = Field(
        default=None, description="the message of the last progress report, if it had one"
    )
    created_at: str
    updated_at: str
    started_at: str | None
    finished_at: str | None
    stop_requested_at: str | None
    stopping: bool
    warning: str | None = Field(
        default=None,
        description="for a pending job no online worker can run, why: no online worker "
        "with its target, none that announced its task, or none that serves its queue",
    )

    @classmethod
    def of(cls, job: Job, *, warning: str | None, schedule_name: str | None) -> JobOut:
        """Return the job's body with the server's notes."""
        return cls.model_validate(
            job.to_dict() | {"warning": warning, "schedule_name": schedule_name}
        )


class JobRefOut(Out):
    """A job as a submission answers it under `Prefer: return=minimal`: its id and state."""

    id: str
    state: JobState


class JobPageOut(Out):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class AttemptOut(Out):
    """One attempt of a job: who ran it, when, and how it ended."""

    attempt: int
    worker: str | None
    started_at: str | None
    ended_at: str | None
    outcome: str = Field(
        description="running, succeeded, failed, lost (its lease expired), released (given "
        "back unrun: it does not count), cancelled or unknown"
    )
    duration_s: float | None
    error: str | None
    traceback: str | None


class AttemptsOut(Out):
    job_id: str
    attempts: list[AttemptOut]


class RetryBody(BaseModel):
    """New arguments for the retried job; left out, they stay as they were."""

    model_config = ConfigDict(extra="forbid", title="RetryBody")

    args: JsonList | None = None
    kwargs: JsonObject | None = None


class RetryManyBody(BaseModel):
    """Which finished jobs to run again."""

    model_config = ConfigDict(extra="forbid", title="RetryManyBody")

    task: ShortText = Field(description="the task's name (exact)")
    since: Moment | None = Field(
        default=None, description="only jobs that finished at or after (ISO 8601)"
    )
    state: Literal["failed", "cancelled", "expired"] = "failed"


class RetryManyOut(Out):
    retried: int = Field(description="how many jobs went back to pending")
    skipped: int = Field(description="jobs that matched but could not be retried (stopping)")


class TaskStatsOut(Out):
    task: str
    counts: dict[str, int] = Field(
        description="by state: jobs that finished in the window, and those pending or running"
    )
    failure_rate: float | None = Field(description="failed / (succeeded + failed)")
    run_p50_s: float | None
    run_p95_s: float | None
    lateness_p50_s: float | None
    lateness_p95_s: float | None
    samples: int = Field(description="finished jobs the run times were taken from")


class TaskStatsPage(Out):
    window: str
    since: str
    tasks: list[TaskStatsOut]


class WorkerSampleOut(Out):
    at: str
    running: int
    resources: JsonObject


class WorkerDetail(Out):
    """One worker: what it is, what it runs now, what it ran, and its resources over time."""

    name: str
    state: WorkerState
    queues: list[str]
    tags: list[str]
    tasks: list[str] = Field(description="the task names it announced")
    capacity: int
    running: int
    server: str | None
    connected_at: str | None
    last_seen_at: str | None
    resources: JsonObject
    running_jobs: list[JobOut]
    recent_jobs: list[JobOut] = Field(description="the newest jobs it ran, running or not")
    samples: list[WorkerSampleOut] = Field(description="resources over time, oldest first")
    drain_url: str = Field(description="POST here to drain it")


class ScheduleRun(Out):
    """One occurrence of a schedule: the job it made, or why it was skipped."""

    fire_at: str | None = Field(description="the occurrence's fire time (None: triggered)")
    outcome: str = Field(description="the job's state, or 'skipped'")
    job: JobOut | None = None
    reason: str | None = Field(default=None, description="why the occurrence was skipped")


class ScheduleRunsOut(Out):
    schedule_id: str
    schedule_name: str
    runs: list[ScheduleRun]
    next_cursor: str | None


class EventOut(Out):
    """One line of a job's execution log."""

    id: int | None
    job_id: str
    attempt: int
    at: str
    kind: str = Field(
        description="submitted, started, succeeded, retrying, failed, cancelled, expired, "
        "released, reaped, retried, updated, progress, log, stopping or stopped"
    )
    worker: str | None
    message: str | None


class EventsOut(Out):
    events: list[EventOut] = Field(description="oldest first")


class WorkerOut(Out):
    """A registered worker, as its last hello and heartbeat described it."""

    name: str
    queues: list[str]
    tags: list[str]
    tasks: list[str] = Field(description="the task names it announced")
    capacity: int
    running: int
    state: WorkerState
    server: str | None = Field(description="the server it is connected to")
    connected_at: str | None
    last_seen_at: str | None
    resources: JsonObject = Field(description="its machine's figures, from its heartbeat")


class WorkersOut(Out):
    workers: list[WorkerOut] = Field(description="online first")


class DrainOut(Out):
    worker: str
    state: Literal["draining"]
    told: bool = Field(
        description="whether the request reached the worker, or the server it is connected to"
    )


class QueueOut(Out):
    queue: str
    pending: int = Field(description="pending jobs, due or not")
    due: int = Field(description="pending jobs whose run_at has come")
    running: int
    oldest_due_age_s: float | None = Field(description="None when nothing is due")


class QueuesOut(Out):
    queues: list[QueueOut]


class TasksOut(Out):
    tasks: list[str] = Field(description="announced by workers, or built in; sorted")


class HealthOut(Out):
    status: Literal["ok"]


class ReadyOut(Out):
    status: Literal["ready"]


class NotReadyOut(Out):
    status: Literal["unavailable"]
    message: str
