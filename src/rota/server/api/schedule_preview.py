"""A draft schedule's next fire times, for the dashboard's create and edit form."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Query, Request

from rota.errors import InvalidInput
from rota.scheduling.cron_words import describe_cron
from rota.scheduling.planner import first_fire_at
from rota.server.api.schedule_models import PreviewOut
from rota.server.api.schedule_schemas import ScheduleCreate, body_of, parse_create
from rota.server.api.schemas import parse_json
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["schedules"])
HubDep = Annotated[Hub, Depends(hub_of)]


def _draft_body() -> dict[str, Any]:
    """Return the openapi_extra of a draft: a create's body, its name optional."""
    extra = body_of(ScheduleCreate)
    schema = extra["requestBody"]["content"]["application/json"]["schema"]
    schema["required"] = [name for name in schema.get("required", []) if name != "name"]
    schema["title"] = "ScheduleDraft"
    return extra


@router.post(
    "/schedules/preview",
    summary="Show when a draft schedule would fire",
    response_model=PreviewOut,
    openapi_extra=_draft_body(),
)
async def preview_schedule(
    request: Request, hub: HubDep, count: Annotated[int, Query(ge=1, le=50)] = 5
) -> PreviewOut:
    """Return the next `count` fire times after now of the schedule the body describes
    (the body of a create; nothing is stored)."""
    data = parse_json(await request.body())
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    spec = parse_create({"name": "preview", **data})
    trigger = spec.trigger()
    times: list[str] = []
    moment = first_fire_at(trigger, await hub.store.now())
    while moment is not None and len(times) < count:
        times.append(moment.isoformat())
        moment = trigger.next_after(moment)
    return PreviewOut(
        next_fire_times=times,
        description=None if spec.cron is None else describe_cron(spec.cron),
    )
