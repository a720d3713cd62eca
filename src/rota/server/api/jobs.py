"""The jobs resource: submit, inspect, wait for, change, cancel and retry jobs."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Iterable
from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, Query, Request, status
from fastapi.responses import JSONResponse

from rota.jobs import Job
from rota.server.api.job_views import job_bodies, job_response
from rota.server.api.models import EventOut, EventsOut, JobOut, JobRefOut, errors
from rota.server.api.schemas import (
    PATCH_BODY,
    SUBMIT_BODY,
    parse_json,
    parse_patch,
    parse_submission_body,
)
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["jobs"])
HubDep = Annotated[Hub, Depends(hub_of)]
JobIdPath = Annotated[str, Path(max_length=100, description="the job's id")]

MAX_WAIT_S = 30.0
"""The longest long poll: a larger `wait` is clamped to it, well inside the 60 s read timeout
that proxies (nginx, most cloud load balancers) apply by default."""


@router.post(
    "/jobs",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=SUBMIT_BODY,
    summary="Submit one job, or a list of jobs",
    response_model=JobOut | list[JobOut] | JobRefOut | list[JobRefOut],
    response_description=(
        "the job, or the list of jobs in the order given; with `Prefer: return=minimal` "
        'each as `{"id", "state"}`'
    ),
    responses={
        201: {
            "headers": {
                "Preference-Applied": {
                    "description": "`return=minimal` when the request preferred it",
                    "required": False,
                    "schema": {"type": "string", "enum": ["return=minimal"]},
                }
            }
        },
        **errors(409),
    },
)
async def submit_jobs(request: Request, hub: HubDep) -> JSONResponse:
    """Submit a job object (answered with the job) or a list of them (answered with a list).

    With the header `Prefer: return=minimal` each job is answered as `{"id", "state"}`
    only (and the answer says `Preference-Applied: return=minimal`): what a bulk submitter
    needs, at a fraction of the full answer's size and cost.

    A submission whose idempotency key names an existing job returns that job when it is
    the same submission (same task, arguments and options; its times are not compared),
    else 409 IdempotencyConflict naming the job that holds the key.
    """
    # Answered by rota.server.lean before routing; this is its declaration (and the path
    # of an app mounted without RotaApp). The body is built as JobOut's plain data.
    minimal = prefers_minimal(request.headers.getlist("prefer"))
    body = await submitted(hub, await request.body(), minimal=minimal)
    answer = JSONResponse(body, status_code=status.HTTP_201_CREATED)
    if minimal:
        answer.headers[PREFERENCE_APPLIED] = MINIMAL
    return answer


PREFERENCE_APPLIED = "preference-applied"
MINIMAL = "return=minimal"
"""The preference (RFC 7240) that asks a submission's answer for ids and states only."""


def prefers_minimal(values: Iterable[str]) -> bool:
    """Tell whether the values of a request's Prefer headers ask for `return=minimal`
    (RFC 7240: comma-separated preferences, each `name[=value]` with `;` parameters;
    names are case-insensitive, a value may be quoted). Anything else is ignored."""
    for value in values:
        for preference in value.split(","):
            name, _, rest = preference.split(";", 1)[0].partition("=")
            if name.strip().lower() == "return" and rest.strip().strip('"') == "minimal":
                return True
    return False


def minimal_body(job: Job) -> dict[str, Any]:
    """Return a job as a minimal answer shows it: its id and state."""
    return {"id": job.id, "state": job.state.value}


async def submitted(hub: Hub, body: bytes, *, minimal: bool = False) -> Any:
    """Submit the jobs a request body holds; return the answer's body (a job or a list).

    The one place a submission's body becomes jobs: the route above and the server's lean
    path for POST /api/v1/jobs (rota.server.lean) both call it. With `minimal` each job is
    answered as minimal_body makes it (the workers, read for each job's warning, are not
    read then). InvalidInput and the other RotaErrors say what was refused.
    """
    submissions, bulk = parse_submission_body(body, max_bulk=hub.settings.server.max_bulk)
    # The store's clock (a round trip on PostgreSQL) is read only when a job needs it: a
    # delay counts from it, and a job made before it is an idempotent repeat, not counted.
    needs_now = any(item.delay is not None or item.idempotency_key for item in submissions)
    now = await hub.jobs.now() if needs_now else None
    specs = [item.to_spec(now) for item in submissions]
    if minimal:
        made = [minimal_body(job) for job in await hub.jobs.submit(specs, since=now, bulk=bulk)]
        return made if bulk else made[0]
    # The workers (for each new job's warning) are read while the submission commits,
    # not after it: the answer waits for one store round trip, not two (and for none
    # while the store keeps the list: see its list_workers).
    workers = asyncio.ensure_future(hub.store.list_workers())
    try:
        jobs = await hub.jobs.submit(specs, since=now, bulk=bulk)
    except BaseException:
        workers.cancel()
        with contextlib.suppress(BaseException):
            await workers
        raise
    views = await job_bodies(hub.store, jobs, workers=await workers)
    return views if bulk else views[0]


@router.get("/jobs/{job_id}", summary="Show a job", response_model=JobOut, responses=errors(404))
async def get_job(job_id: JobIdPath, hub: HubDep) -> JSONResponse:
    """Return the job, with `warning` saying why when it is pending and no online worker
    can run it, and `schedule_name` when a schedule made it."""
    return await job_response(hub.store, await hub.store.get_job(job_id))


@router.get(
    "/jobs/{job_id}/events",
    summary="Show a job's execution log",
    response_model=EventsOut,
    responses=errors(404),
)
async def job_events(
    job_id: JobIdPath,
    hub: HubDep,
    after: Annotated[int, Query(ge=0, le=2**63 - 1, description="only events after this id")] = 0,
    limit: Annotated[int, Query(ge=1, le=1000)] = 1000,
) -> EventsOut:
    """Return the job's events in order, after the given event id."""
    events = await hub.store.events(job_id, after_id=after, limit=limit)
    return EventsOut(events=[EventOut(**event.to_dict()) for event in events])


@router.get(
    "/jobs/{job_id}/result",
    summary="Wait for a job to finish",
    response_model=JobOut,
    responses=errors(404),
)
async def job_result(
    job_id: JobIdPath,
    hub: HubDep,
    wait: Annotated[
        float,
        Query(ge=0, description=f"seconds; more than {MAX_WAIT_S:g} counts as {MAX_WAIT_S:g}"),
    ] = 0,
) -> JSONResponse:
    """Return the job once it is finished, or as it is when the wait ends.

    The wait is at most MAX_WAIT_S (30 s); a client that wants longer polls again.
    """
    job = await hub.jobs.wait_finished(job_id, min(wait, MAX_WAIT_S))
    return await job_response(hub.store, job)


@router.patch(
    "/jobs/{job_id}",
    openapi_extra=PATCH_BODY,
    summary="Change a pending job",
    response_model=JobOut,
    responses=errors(404, 409),
)
async def update_job(job_id: JobIdPath, request: Request, hub: HubDep) -> JSONResponse:
    """Change run_at, priority, args or kwargs of a pending job (409 otherwise)."""
    patch = parse_patch(parse_json(await request.body()))
    job = await hub.jobs.update(job_id, patch.to_changes(await hub.jobs.now()))
    return await job_response(hub.store, job)


@router.delete(
    "/jobs/{job_id}", summary="Cancel a job", response_model=JobOut, responses=errors(404, 409)
)
async def cancel_job(job_id: JobIdPath, hub: HubDep) -> JSONResponse:
    """Cancel a pending or running job at once.

    A running job's worker is told to stop its code at once, whichever server it is
    connected to; the job shows `stopping: true`, and its worker keeps the lease and the
    slot, until the code has stopped.
    """
    job = await hub.jobs.cancel(job_id)
    return await job_response(hub.store, job)
