"""What a person does with a reminder: snooze it, or dismiss it.

Snooze makes a new reminder, due `minutes` after the later of now and the snoozed one's due
moment (snoozing a reminder that has not rung yet never brings it forward), with the same
kwargs (text, notify URLs, calendar keys), target, queue and options, and a deadline as far
after its due moment as the snoozed one had. The new job's idempotency key is
`snooze:<snoozed job id>`: that is the link
from the new reminder to the one it snoozes, and it makes a second snooze of the same
reminder (a double click, a retried request) return the first one's reminder instead of
making another. A snoozed reminder that has not rung yet (pending, or held by its device) is
cancelled, so it rings once, at the new time.

Dismiss cancels a reminder that has not rung yet; a device that holds it is told at once.
"""

from __future__ import annotations

import contextlib
from datetime import timedelta
from typing import Annotated, Final

from fastapi import APIRouter, Depends, Path, Request, status
from pydantic import ValidationError

from rota.errors import InvalidInput, InvalidTransition, JobNotFound
from rota.jobs import Job, JobSpec, JobState
from rota.reminders.model import REMIND_TASK
from rota.safe_text import excerpt
from rota.server.api.device_models import SnoozeBody, SnoozeOut
from rota.server.api.job_views import job_view
from rota.server.api.models import JobOut, errors
from rota.server.api.schemas import parse_json
from rota.server.state import Hub, hub_of
from rota.validation_text import describe_validation_errors

router = APIRouter(tags=["reminders"])
HubDep = Annotated[Hub, Depends(hub_of)]
JobIdPath = Annotated[str, Path(max_length=100, description="the reminder's job id")]

SNOOZE_KEY_PREFIX: Final = "snooze:"
"""The idempotency key of a snooze's reminder is this followed by the snoozed job's id."""
NOT_RUNG: Final = (JobState.PENDING, JobState.RUNNING)


def snooze_key(job_id: str) -> str:
    """Return the idempotency key of the reminder that snoozes job `job_id`."""
    return SNOOZE_KEY_PREFIX + job_id


@router.post(
    "/reminders/{job_id}/snooze",
    status_code=status.HTTP_201_CREATED,
    summary="Snooze a reminder",
    response_model=SnoozeOut,
    responses=errors(404, 409),
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {"application/json": {"schema": SnoozeBody.model_json_schema()}},
        }
    },
)
async def snooze(job_id: JobIdPath, request: Request, hub: HubDep) -> SnoozeOut:
    """Make a new reminder like this one, due `minutes` after the later of now and its due
    moment, linked to it by the idempotency key `snooze:<job_id>`; cancel this one if it has
    not rung yet. A reminder snoozed before answers the reminder its first snooze made
    (`created` false). 404 when the job is not a reminder."""
    try:
        body = SnoozeBody.model_validate(parse_json(await request.body()))
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    job = await _reminder(hub, job_id)
    now = await hub.jobs.now()
    due_at = max(now, job.run_at) + timedelta(minutes=body.minutes)
    spec = JobSpec(
        task=REMIND_TASK,
        args=job.args,
        kwargs=job.kwargs,
        queue=job.queue,
        priority=job.priority,
        run_at=due_at,
        target=job.target,
        max_attempts=job.max_attempts,
        backoff=job.backoff,
        timeout_s=job.timeout_s,
        deadline_at=None if job.deadline_at is None else due_at + _grace(job),
        idempotency_key=snooze_key(job.id),
    )
    [made] = await hub.jobs.submit([spec], since=now, bulk=False)
    created = made.created_at >= now
    if created and job.state in NOT_RUNG:
        with contextlib.suppress(InvalidTransition):  # it rang or ended meanwhile
            job = await hub.jobs.cancel(job.id)
    return SnoozeOut(
        snoozed=await job_view(hub.store, job),
        reminder=await job_view(hub.store, made),
        created=created,
    )


@router.post(
    "/reminders/{job_id}/dismiss",
    summary="Dismiss a reminder that has not rung",
    response_model=JobOut,
    responses=errors(404, 409),
)
async def dismiss(job_id: JobIdPath, hub: HubDep) -> JobOut:
    """Cancel a pending reminder, or one its device holds (the device is told to drop it);
    a reminder dismissed (cancelled) before answers as it is, so a second dismiss is harmless;
    409 when it has rung or ended otherwise, 404 when the job is not a reminder."""
    job = await _reminder(hub, job_id)
    if job.state is JobState.CANCELLED:
        return await job_view(hub.store, job)
    return await job_view(hub.store, await hub.jobs.cancel(job_id))


def _grace(job: Job) -> timedelta:
    """Return how long after its due moment the job may still start (its deadline)."""
    if job.deadline_at is None:
        return timedelta(0)
    return max(timedelta(0), job.deadline_at - job.run_at)


async def _reminder(hub: Hub, job_id: str) -> Job:
    job = await hub.store.get_job(job_id)
    if job.task != REMIND_TASK:
        raise JobNotFound(
            f"job {excerpt(job_id)} is not a reminder (its task is {excerpt(job.task)})"
        )
    return job
