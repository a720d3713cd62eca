"""The reminders resource: create reminders (jobs of task rota.remind, or their schedules).

Reminders are jobs and schedules like any others once made: list, change and cancel them
through /jobs and /schedules (`task=rota.remind`).
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Request, status
from pydantic import ValidationError

from rota.errors import InvalidInput
from rota.reminders.submit import ReminderRequest, plan
from rota.scheduling import admin
from rota.server.api.job_views import job_views
from rota.server.api.models import JobOut, Out, errors
from rota.server.api.schedule_models import ScheduleDetail
from rota.server.api.schedule_schemas import body_of
from rota.server.api.schemas import parse_json
from rota.server.state import Hub, hub_of
from rota.validation_text import describe_validation_errors

router = APIRouter(tags=["reminders"])
HubDep = Annotated[Hub, Depends(hub_of)]


class ReminderOut(Out):
    """What a reminder request made: its jobs (one-off) or its schedules (recurring, each as
    GET /schedules/{name} shows it)."""

    jobs: list[JobOut]
    schedules: list[ScheduleDetail]


@router.post(
    "/reminders",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=body_of(ReminderRequest),
    response_model=ReminderOut,
    responses=errors(409),
    summary="Create a reminder",
)
async def create_reminder(request: Request, hub: HubDep) -> ReminderOut:
    """Create a one-off reminder (a job per device, plus one for its notification URLs) or
    a recurring one (a schedule per device, and one for its URLs).

    The same request again with the same `idempotency_key` creates nothing new; a recurring
    reminder with the same `name` is brought up to the new definition.
    """
    body = _parse(parse_json(await request.body()))
    now = await hub.jobs.now()
    made = plan(body, now)
    jobs = await hub.jobs.submit(made.jobs, since=now, bulk=False) if made.jobs else []
    schedules = []
    for spec in made.schedules:
        if hub.settings.server.strict_tasks:
            await hub.tasks.check([("", spec.task)])
        schedule, _ = await admin.upsert(hub.store, spec)
        data = schedule.to_dict()
        times = admin.next_fire_times(schedule, await hub.store.now())
        data["next_fire_times"] = [moment.isoformat() for moment in times]
        schedules.append(ScheduleDetail.model_validate(data))
    if schedules:
        hub.scheduler.wake()
    return ReminderOut(jobs=await job_views(hub.store, jobs), schedules=schedules)


def _parse(data: Any) -> ReminderRequest:
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        return ReminderRequest.model_validate(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
