"""Response bodies of the REST API's read routes: pydantic models, so that /openapi.json
states what each route answers, errors included.

Moments are ISO 8601 text with an offset (as `datetime.isoformat` writes them), spans are
seconds in fields named `*_s`.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field

from rota.jobs import Job


class ErrorDetail(BaseModel):
    type: str = Field(description="the error's class, e.g. JobNotFound")
    message: str


class ErrorBody(BaseModel):
    """Every error answer: {"error": {"type": ..., "message": ...}}."""

    error: ErrorDetail


def errors(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return the `responses` of a route that may answer these error statuses."""
    described = {
        404: "no such job, worker or schedule",
        409: "the job's state does not allow it",
        422: "a parameter or the body is not valid; the message names it",
    }
    return {
        status: {"model": ErrorBody, "description": described.get(status, "refused")}
        for status in statuses
    }


class BackoffOut(BaseModel):
    base_s: float
    factor: float
    max_s: float
    jitter: float


class JobOut(BaseModel):
    """A job as stored, with what the server can tell about it besides."""

    id: str
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    queue: str
    priority: int
    state: str
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
    result: Any = None
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


class JobPageOut(BaseModel):
    jobs: list[JobOut]
    next_cursor: str | None = Field(description="pass as `cursor` for the next page")


class AttemptOut(BaseModel):
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


class AttemptsOut(BaseModel):
    job_id: str
    attempts: list[AttemptOut]


class RetryBody(BaseModel):
    """New arguments for the retried job; left out, they stay as they were."""

    model_config = ConfigDict(extra="forbid", title="RetryBody")

    args: list[Any] | None = None
    kwargs: dict[str, Any] | None = None


class RetryManyBody(BaseModel):
    """Which finished jobs to run again."""

    model_config = ConfigDict(extra="forbid", title="RetryManyBody")

    task: str = Field(description="the task's name (exact)", min_length=1, max_length=200)
    since: str | None = Field(
        default=None, description="only jobs that finished at or after (ISO 8601)"
    )
    state: Literal["failed", "cancelled", "expired"] = "failed"


class RetryManyOut(BaseModel):
    retried: int = Field(description="how many jobs went back to pending")
    skipped: int = Field(description="jobs that matched but could not be retried (stopping)")


class TaskStatsOut(BaseModel):
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


class TaskStatsPage(BaseModel):
    window: str
    since: str
    tasks: list[TaskStatsOut]


class WorkerSampleOut(BaseModel):
    at: str
    running: int
    resources: dict[str, Any]


class WorkerDetail(BaseModel):
    """One worker: what it is, what it runs now, what it ran, and its resources over time."""

    name: str
    state: str
    queues: list[str]
    tags: list[str]
    tasks: list[str] = Field(description="the task names it announced")
    capacity: int
    running: int
    server: str | None
    connected_at: str | None
    last_seen_at: str | None
    resources: dict[str, Any]
    running_jobs: list[JobOut]
    recent_jobs: list[JobOut] = Field(description="the newest jobs it ran, running or not")
    samples: list[WorkerSampleOut] = Field(description="resources over time, oldest first")
    drain_url: str = Field(description="POST here to drain it")


class ScheduleRun(BaseModel):
    """One occurrence of a schedule: the job it made, or why it was skipped."""

    fire_at: str | None = Field(description="the occurrence's fire time (None: triggered)")
    outcome: str = Field(description="the job's state, or 'skipped'")
    job: JobOut | None = None
    reason: str | None = Field(default=None, description="why the occurrence was skipped")


class ScheduleRunsOut(BaseModel):
    schedule_id: str
    schedule_name: str
    runs: list[ScheduleRun]
    next_cursor: str | None
