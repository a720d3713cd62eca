"""Jobs as the API shows them: each with its schedule's name and, when no online worker can
run it, a warning that says why."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from starlette.responses import JSONResponse

from rota.jobs import Job, JobState
from rota.server.api.models import JobOut
from rota.server.runnable import unrunnable_reason
from rota.store.base import Store, WorkerInfo


async def job_views(
    store: Store, jobs: Sequence[Job], *, workers: Sequence[WorkerInfo] | None = None
) -> list[JobOut]:
    """Return the jobs' bodies; reads the workers only if a job is pending and `workers`
    (read by the caller) is not given, the schedules only if a job has one."""
    if workers is None:
        workers = (
            await store.list_workers() if any(job.state is JobState.PENDING for job in jobs) else []
        )
    names: dict[str, str] = {}
    if any(job.schedule_id is not None for job in jobs):
        names = {schedule.id: schedule.name for schedule in await store.list_schedules()}
    return [
        JobOut.of(
            job,
            warning=unrunnable_reason(job, workers),
            schedule_name=None if job.schedule_id is None else names.get(job.schedule_id),
        )
        for job in jobs
    ]


_FIELDS = tuple(JobOut.model_fields)
_FLOATS = ("timeout_s", "progress")


def job_body(job: Job, *, warning: str | None, schedule_name: str | None) -> dict[str, Any]:
    """Return what `JobOut.of(...).model_dump()` returns, without pydantic's round trip
    (a submission's answer holds up to `max_bulk` of them): the same keys in the same
    order, the same floats (tests/server/test_job_views.py holds the two together)."""
    data = job.to_dict()
    data["warning"] = warning
    data["schedule_name"] = schedule_name
    body: dict[str, Any] = {name: data.get(name) for name in _FIELDS}
    for name in _FLOATS:
        if body[name] is not None:
            body[name] = float(body[name])
    body["backoff"] = {name: float(value) for name, value in data["backoff"].items()}
    return body


async def job_bodies(
    store: Store, jobs: Sequence[Job], *, workers: Sequence[WorkerInfo]
) -> list[dict[str, Any]]:
    """Return the jobs' bodies as job_views makes them, as plain data (see job_body)."""
    names: dict[str, str] = {}
    if any(job.schedule_id is not None for job in jobs):
        names = {schedule.id: schedule.name for schedule in await store.list_schedules()}
    return [
        job_body(
            job,
            warning=unrunnable_reason(job, workers),
            schedule_name=None if job.schedule_id is None else names.get(job.schedule_id),
        )
        for job in jobs
    ]


async def job_response(store: Store, job: Job, *, status_code: int = 200) -> JSONResponse:
    """Return one job's answer, a JobOut built as plain data (see job_body): a route that
    declares `response_model=JobOut` and returns it skips pydantic's round trip."""
    workers = await store.list_workers() if job.state is JobState.PENDING else []
    [body] = await job_bodies(store, [job], workers=workers)
    return JSONResponse(body, status_code=status_code)


async def job_view(store: Store, job: Job) -> JobOut:
    """Return one job's body (see job_views)."""
    [view] = await job_views(store, [job])
    return view
