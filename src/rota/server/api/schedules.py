"""The schedules resource: create, list, show, change, pause, resume, trigger and remove.

A schedule is addressed by its id or its name. Changes go through rota.scheduling.admin,
which compares-and-sets on the schedule's version, so they never lose a scheduler round.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Request, Response, status
from fastapi.responses import JSONResponse

from rota.scheduling import admin
from rota.scheduling.model import Schedule, ScheduleSpec
from rota.server.api.job_views import job_response
from rota.server.api.models import JobOut, errors
from rota.server.api.schedule_models import ScheduleDetail, ScheduleOut, SchedulesOut
from rota.server.api.schedule_schemas import (
    ScheduleCreate,
    SchedulePatch,
    body_of,
    parse_create,
    parse_patch,
)
from rota.server.api.schemas import parse_json
from rota.server.state import Hub, hub_of
from rota.values import check_arguments

router = APIRouter(tags=["schedules"])
HubDep = Annotated[Hub, Depends(hub_of)]
Ref = Annotated[str, Path(max_length=100, description="the schedule's id or name")]


@router.post(
    "/schedules",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=body_of(ScheduleCreate),
    summary="Create a schedule",
    response_model=ScheduleDetail,
    responses=errors(409),
)
async def create_schedule(request: Request, hub: HubDep) -> dict[str, Any]:
    """Create a schedule (409 if the name is taken); it fires first at its next fire time."""
    spec = parse_create(parse_json(await request.body()))
    await _check_task(hub, spec)
    schedule = await admin.create(hub.store, spec)
    hub.scheduler.wake()
    return await _show(hub, schedule)


@router.put(
    "/schedules/{ref}",
    openapi_extra=body_of(ScheduleCreate),
    summary="Create a schedule, or bring the one of that name up to this definition",
    response_model=ScheduleDetail,
    responses={
        201: {"model": ScheduleDetail, "description": "created"},
        **errors(409),
    },
)
async def put_schedule(
    ref: Annotated[str, Path(max_length=100, description="the schedule's name")],
    request: Request,
    response: Response,
    hub: HubDep,
) -> Any:
    """Create or update by name, idempotently (how code-declared schedules are registered).

    Answers 201 when it created the schedule, 200 otherwise. A paused schedule stays paused.
    """
    # One path parameter name per path (OpenAPI forbids two templates that differ only there).
    spec = parse_create(parse_json(await request.body()), name=ref)
    await _check_task(hub, spec)
    schedule, created = await admin.upsert(hub.store, spec)
    if created:
        response.status_code = status.HTTP_201_CREATED
    hub.scheduler.wake()
    return await _show(hub, schedule)


@router.get("/schedules", summary="List schedules", response_model=SchedulesOut)
async def list_schedules(hub: HubDep) -> dict[str, Any]:
    """Return every schedule, by name."""
    return {"schedules": [schedule.to_dict() for schedule in await hub.store.list_schedules()]}


@router.get(
    "/schedules/{ref}",
    summary="Show a schedule and its next 10 fire times",
    response_model=ScheduleDetail,
    responses=errors(404),
)
async def get_schedule(ref: Ref, hub: HubDep) -> dict[str, Any]:
    """Return the schedule with `next_fire_times`: its next 10 fire times after now."""
    return await _show(hub, await hub.store.get_schedule(ref))


@router.patch(
    "/schedules/{ref}",
    openapi_extra=body_of(SchedulePatch),
    summary="Change a schedule",
    response_model=ScheduleDetail,
    responses=errors(404, 409),
)
async def update_schedule(ref: Ref, request: Request, hub: HubDep) -> dict[str, Any]:
    """Change any field but the name. Occurrences already written keep their options."""
    changes = parse_patch(parse_json(await request.body()))
    if ("args" in changes) != ("kwargs" in changes):
        # Args and kwargs share one size limit: measure the new half with the stored one.
        spec = (await hub.store.get_schedule(ref)).spec
        check_arguments(changes.get("args", spec.args), changes.get("kwargs", spec.kwargs))
    if "task" in changes and hub.settings.server.strict_tasks:
        await hub.tasks.check([("", changes["task"])])
    schedule = await admin.change(hub.store, ref, **changes)
    hub.scheduler.wake()
    return await _show(hub, schedule)


@router.delete(
    "/schedules/{ref}",
    summary="Remove a schedule",
    response_model=ScheduleOut,
    responses=errors(404, 409),
)
async def delete_schedule(ref: Ref, hub: HubDep) -> dict[str, Any]:
    """Remove the schedule and cancel its occurrences written ahead; its past jobs stay."""
    return (await admin.delete(hub.store, ref)).to_dict()


@router.post(
    "/schedules/{ref}/pause",
    summary="Pause a schedule",
    response_model=ScheduleDetail,
    responses=errors(404, 409),
)
async def pause_schedule(ref: Ref, hub: HubDep) -> dict[str, Any]:
    """Stop firing; occurrences written ahead of their time are cancelled."""
    return await _show(hub, await admin.pause(hub.store, ref))


@router.post(
    "/schedules/{ref}/resume",
    summary="Resume a schedule",
    response_model=ScheduleDetail,
    responses=errors(404, 409),
)
async def resume_schedule(ref: Ref, hub: HubDep) -> dict[str, Any]:
    """Fire again from the next fire time after now; what was missed meanwhile is not run."""
    schedule = await admin.resume(hub.store, ref)
    hub.scheduler.wake()
    return await _show(hub, schedule)


@router.post(
    "/schedules/{ref}/trigger",
    status_code=status.HTTP_201_CREATED,
    summary="Run a schedule's task now",
    response_model=JobOut,
    responses=errors(404, 409),
)
async def trigger_schedule(ref: Ref, hub: HubDep) -> JSONResponse:
    """Submit one job of the schedule now, outside its timing; answer with the job."""
    job = await admin.trigger_now(hub.store, ref)
    hub.dispatcher.wake()
    return await job_response(hub.store, job, status_code=status.HTTP_201_CREATED)


async def _check_task(hub: Hub, spec: ScheduleSpec) -> None:
    if hub.settings.server.strict_tasks:
        await hub.tasks.check([("", spec.task)])


async def _show(hub: Hub, schedule: Schedule) -> dict[str, Any]:
    data = schedule.to_dict()
    times = admin.next_fire_times(schedule, await hub.store.now())
    data["next_fire_times"] = [moment.isoformat() for moment in times]
    return data
