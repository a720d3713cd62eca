"""The calendars resource: import an iCalendar (.ics) file as reminders and schedules."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, Query, Request

from rota.calendar.importer import import_calendar
from rota.calendar.plan import ImportOptions
from rota.errors import InvalidCalendar, InvalidInput, MalformedBody
from rota.scheduling.triggers import MAX_TIMEZONE_CHARS
from rota.server.api.models import errors
from rota.server.api.schedule_models import CalendarImportOut
from rota.server.api.schemas import parse_json
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["calendars"])
HubDep = Annotated[Hub, Depends(hub_of)]
CalendarName = Annotated[
    str,
    Path(
        pattern=r"^[A-Za-z0-9_.-]{1,40}$",
        description="the calendar's name: what keeps its reminders apart from other calendars'",
    ),
]
_ICS_TEXT = {"type": "string", "pattern": r"\S"}
"""An .ics file: a body of blanks only is refused before it is read."""
_ICS_BODY = {
    "requestBody": {
        "required": True,
        "content": {
            "text/calendar": {"schema": _ICS_TEXT},
            "application/json": {
                "schema": {
                    "type": "object",
                    "properties": {"ics": _ICS_TEXT},
                    "required": ["ics"],
                    "additionalProperties": False,
                }
            },
        },
    }
}


@router.post(
    "/calendars/{name}/import",
    openapi_extra=_ICS_BODY,
    summary="Import an iCalendar file as reminders (single events) and schedules (recurring)",
    response_model=CalendarImportOut,
    responses=errors(409),
)
async def import_ics(
    name: CalendarName,
    request: Request,
    hub: HubDep,
    target: Annotated[
        str | None,
        Query(max_length=200, description="device:<name> for one device, device for any"),
    ] = None,
    before: Annotated[
        float, Query(ge=0, le=366 * 86400, description="seconds before each event it sounds")
    ] = 0.0,
    tz: Annotated[
        str,
        Query(max_length=MAX_TIMEZONE_CHARS, description="zone of floating and all-day times"),
    ] = "UTC",
    dry_run: Annotated[bool, Query(description="only say what would change")] = False,
) -> CalendarImportOut:
    """Bring calendar `name` in line with the .ics file in the body: the file itself
    (text/calendar, UTF-8), or JSON `{"ics": "<the file>"}`.

    Keyed by (calendar, UID, recurrence id): the same file again changes nothing, a changed
    event is updated, and what the file no longer has is cancelled or removed. Answers the
    counts `added`, `updated`, `removed`, `unchanged`, `past` (events whose time has passed,
    not imported) and each change. A malformed file is a 422 naming its line, and changes
    nothing.
    """
    text = await _calendar_text(request)
    options = ImportOptions(calendar=name, target=target, before_s=before, tz=tz).validate()
    result = await import_calendar(hub.store, hub.jobs, text, options, dry_run=dry_run)
    if result.submitted:
        hub.dispatcher.wake()
    if result.plan.upsert:
        hub.scheduler.wake()
    return CalendarImportOut.model_validate(result.plan.to_dict(dry_run=dry_run))


async def _calendar_text(request: Request) -> str:
    body = await request.body()
    if not body.strip():
        raise MalformedBody("the request body is empty; send the .ics file")
    if request.headers.get("content-type", "").startswith("application/json"):
        data = parse_json(body)
        if not isinstance(data, dict) or set(data) != {"ics"} or not isinstance(data["ics"], str):
            raise InvalidInput('the JSON body must be {"ics": "<the .ics file>"}')
        text: str = data["ics"]
        return text
    try:
        return body.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidCalendar(f"the file is not UTF-8 (byte {exc.start})") from None
