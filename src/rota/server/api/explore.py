"""What people ask of the cluster: jobs found and sorted, a job's attempts, retries of one
job with new arguments or of many at once, per-task figures, one worker in detail, and a
schedule's runs."""

from __future__ import annotations

import contextlib
from datetime import datetime, timedelta
from typing import Annotated, Literal

from fastapi import APIRouter, Depends, Path, Query, Request
from pydantic import ValidationError

from rota.errors import (
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    WorkerNotFound,
)
from rota.jobs import Event, JobState
from rota.safe_text import excerpt
from rota.scheduling.model import occurrence_key
from rota.server.api.fields import Moment
from rota.server.api.job_views import job_view, job_views
from rota.server.api.models import (
    AttemptOut,
    AttemptsOut,
    JobOut,
    JobPageOut,
    RetryBody,
    RetryManyBody,
    RetryManyOut,
    ScheduleRun,
    ScheduleRunsOut,
    TaskStatsOut,
    TaskStatsPage,
    WorkerDetail,
    WorkerSampleOut,
    errors,
)
from rota.server.api.schemas import parse_json
from rota.server.state import Hub, hub_of
from rota.store.base import JobQuery
from rota.store.common import EPOCH
from rota.store.explore import AttemptError, JobSort
from rota.validation_text import describe_validation_errors
from rota.values import check_arguments

router = APIRouter()
HubDep = Annotated[Hub, Depends(hub_of)]
JobIdPath = Annotated[str, Path(max_length=100, description="the job's id")]

WINDOWS = {"15m": 900, "1h": 3600, "24h": 86400, "7d": 7 * 86400}
RECENT_JOBS = 20
MAX_RUNNING_SHOWN = 200
MAX_RETRIED = 10_000
"""A bulk retry touches at most this many jobs per request."""
EVENT_PAGES = 50


@router.get(
    "/jobs",
    tags=["jobs"],
    summary="List jobs: filter, search and sort",
    response_model=JobPageOut,
    responses=errors(404),
)
async def list_jobs(
    hub: HubDep,
    state: JobState | None = None,
    queue: Annotated[str | None, Query(max_length=100)] = None,
    task: Annotated[
        str | None, Query(max_length=200, description="a task name or its start")
    ] = None,
    worker: Annotated[str | None, Query(max_length=200)] = None,
    search: Annotated[
        str | None,
        Query(
            max_length=200,
            description="an id or its start or end (the short id), an idempotency key, the "
            "start of a task name, or text in args, kwargs, result or error (any case)",
        ),
    ] = None,
    q: Annotated[str | None, Query(max_length=200, description="the same as search")] = None,
    schedule: Annotated[
        str | None, Query(max_length=100, description="a schedule's id or name")
    ] = None,
    created_after: Annotated[Moment | None, Query(description="ISO 8601 with an offset")] = None,
    created_before: Annotated[Moment | None, Query(description="ISO 8601 with an offset")] = None,
    sort: JobSort = JobSort.CREATED_AT,
    order: Literal["asc", "desc"] = "desc",
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> JobPageOut:
    """Return one page of jobs matching every filter given, in the order asked (newest
    first by default), and the cursor of the next page. 404 for an unknown schedule."""
    schedule_id = None if schedule is None else await _schedule_id(hub, schedule)
    page = await hub.store.list_jobs(
        JobQuery(
            state=state,
            queue=queue,
            task=task,
            worker=worker,
            search=search if search is not None else q,
            schedule_id=schedule_id,
            created_after=created_after,
            created_before=created_before,
            sort=sort,
            descending=order == "desc",
            limit=limit,
            cursor=cursor,
        )
    )
    return JobPageOut(jobs=await job_views(hub.store, page.jobs), next_cursor=page.next_cursor)


@router.get(
    "/jobs/{job_id}/attempts",
    tags=["jobs"],
    summary="Show a job's attempts",
    response_model=AttemptsOut,
    responses=errors(404),
)
async def job_attempts(job_id: JobIdPath, hub: HubDep) -> AttemptsOut:
    """Return every attempt of the job, oldest first, each with its worker, times, outcome,
    and its own error and traceback (kept when the job runs again)."""
    job = await hub.store.get_job(job_id)
    events: list[Event] = []
    for _ in range(EVENT_PAGES):
        after = events[-1].id or 0 if events else 0
        page = await hub.store.events(job_id, after_id=after)
        events += page
        if len(page) < 1000:
            break
    failures = {error.attempt: error for error in await hub.store.attempt_errors(job_id)}
    attempts = attempts_of(events, failures)
    if attempts and job.state is JobState.FAILED:
        last = attempts[-1]
        if last.error is None:  # failed before its error was kept per attempt
            last.error, last.traceback = job.error, job.traceback
    return AttemptsOut(job_id=job.id, attempts=attempts)


_OUTCOMES = {
    "succeeded": "succeeded",
    "retrying": "failed",
    "failed": "failed",
    "reaped": "lost",
    "released": "released",
    "cancelled": "cancelled",
}


def attempts_of(events: list[Event], failures: dict[int, AttemptError]) -> list[AttemptOut]:
    """Return the attempts an execution log tells of: each `started` event opens one, and the
    first outcome event of the same attempt number closes it."""
    attempts: dict[int, AttemptOut] = {}
    started: dict[int, datetime] = {}
    for event in events:
        if event.kind == "started":
            started[event.attempt] = event.at
            attempts[event.attempt] = AttemptOut(
                attempt=event.attempt,
                worker=event.worker,
                started_at=event.at.isoformat(),
                ended_at=None,
                outcome="running",
                duration_s=None,
                error=None,
                traceback=None,
            )
            continue
        attempt = attempts.get(event.attempt)
        outcome = _OUTCOMES.get(event.kind)
        if attempt is None or outcome is None or attempt.outcome != "running":
            continue
        attempt.outcome = outcome
        attempt.ended_at = event.at.isoformat()
        attempt.duration_s = (event.at - started[event.attempt]).total_seconds()
        if outcome in ("failed", "lost"):
            failure = failures.get(event.attempt)
            attempt.error = failure.error if failure else None
            attempt.traceback = failure.traceback if failure else None
    return [attempts[number] for number in sorted(attempts)]


@router.post(
    "/jobs/retry",
    tags=["jobs"],
    summary="Retry every finished job of a task",
    response_model=RetryManyOut,
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/json": {"schema": RetryManyBody.model_json_schema()},
            },
        }
    },
)
async def retry_many(request: Request, hub: HubDep) -> RetryManyOut:
    """Put every job of the task in the state given (failed by default) that finished at or
    after `since` back to pending, and answer how many; at most 10000 per request."""
    try:
        body = RetryManyBody.model_validate(parse_json(await request.body()))
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    since = body.since
    retried = skipped = 0
    cursor = None
    while retried + skipped < MAX_RETRIED:
        page = await hub.store.list_jobs(
            JobQuery(
                state=JobState(body.state),
                task=body.task,
                finished_after=since,
                limit=500,
                cursor=cursor,
            )
        )
        for job in page.jobs:
            if job.task != body.task:  # the filter matches a prefix
                continue
            try:
                await hub.jobs.retry(job.id)
            except (InvalidTransition, JobNotFound):  # stopping, or changed meanwhile
                skipped += 1
                continue
            retried += 1
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return RetryManyOut(retried=retried, skipped=skipped)


@router.post(
    "/jobs/{job_id}/retry",
    tags=["jobs"],
    summary="Run a finished job again, with new arguments if given",
    response_model=JobOut,
    responses=errors(404, 409),
    openapi_extra={
        "requestBody": {
            "required": False,
            "content": {"application/json": {"schema": RetryBody.model_json_schema()}},
        }
    },
)
async def retry_job(job_id: JobIdPath, request: Request, hub: HubDep) -> JobOut:
    """Put a failed, cancelled or expired job back to pending, due now, for a new round of
    attempts. A body {"args": [...], "kwargs": {...}} replaces the arguments (checked as a
    submission's are; either may be left out). 409 while the code of its last attempt is
    still stopping on a worker (`stopping`)."""
    raw = await request.body()
    args = kwargs = None
    if raw.strip():
        try:
            body = RetryBody.model_validate(parse_json(raw))
        except ValidationError as exc:
            raise InvalidInput(describe_validation_errors(exc.errors())) from None
        if body.args is not None or body.kwargs is not None:
            current = await hub.store.get_job(job_id)
            args, kwargs = check_arguments(
                current.args if body.args is None else body.args,
                current.kwargs if body.kwargs is None else body.kwargs,
            )
            args = None if body.args is None else args
            kwargs = None if body.kwargs is None else kwargs
    job = await hub.jobs.retry(job_id, args=args, kwargs=kwargs)
    return await job_view(hub.store, job)


@router.get(
    "/stats/tasks",
    tags=["stats"],
    summary="Show per-task figures over a window",
    response_model=TaskStatsPage,
)
async def task_stats(
    hub: HubDep, window: Literal["15m", "1h", "24h", "7d"] = "1h"
) -> TaskStatsPage:
    """Return, for every task, counts by state (jobs finished in the window, and those
    pending or running now), failure rate, and p50/p95 of run time and of lateness, read
    from the store (so every server answers the same)."""
    since = await hub.store.now() - timedelta(seconds=WINDOWS[window])
    stats = await hub.store.task_stats(since)
    return TaskStatsPage(
        window=window,
        since=since.isoformat(),
        tasks=[
            TaskStatsOut(
                task=row.task,
                counts=row.counts,
                failure_rate=row.failure_rate,
                run_p50_s=row.run_p50_s,
                run_p95_s=row.run_p95_s,
                lateness_p50_s=row.lateness_p50_s,
                lateness_p95_s=row.lateness_p95_s,
                samples=row.samples,
            )
            for row in stats
        ],
    )


@router.get(
    "/workers/{name}",
    tags=["workers"],
    summary="Show one worker",
    response_model=WorkerDetail,
    responses=errors(404),
)
async def worker_detail(
    name: Annotated[str, Path(max_length=200, description="the worker's name")],
    request: Request,
    hub: HubDep,
) -> WorkerDetail:
    """Return the worker with its running jobs, the newest jobs it ran, the tasks it
    announced, and its resources over the last hour (a sample per 15 s at most)."""
    found = [worker for worker in await hub.store.list_workers() if worker.name == name]
    if not found:
        raise WorkerNotFound(f"no worker named {excerpt(name)} is registered")
    worker = found[0]
    running = await hub.store.list_jobs(
        JobQuery(worker=name, state=JobState.RUNNING, limit=MAX_RUNNING_SHOWN)
    )
    recent = await hub.store.list_jobs(JobQuery(worker=name, limit=RECENT_JOBS))
    samples = await hub.store.worker_samples(name)
    data = worker.to_dict()
    return WorkerDetail(
        **data,
        running_jobs=await job_views(hub.store, running.jobs),
        recent_jobs=await job_views(hub.store, recent.jobs),
        samples=[
            WorkerSampleOut(at=s.at.isoformat(), running=s.running, resources=s.resources)
            for s in samples
        ],
        drain_url=request.url_for("drain_worker", name=name).path,
    )


@router.get(
    "/schedules/{ref}/runs",
    tags=["schedules"],
    summary="Show a schedule's past runs",
    response_model=ScheduleRunsOut,
    responses=errors(404),
)
async def schedule_runs(
    ref: Annotated[str, Path(max_length=100, description="the schedule's id or name")],
    hub: HubDep,
    limit: Annotated[int, Query(ge=1, le=500)] = 50,
    cursor: Annotated[str | None, Query(max_length=100)] = None,
) -> ScheduleRunsOut:
    """Return the schedule's runs, newest first: each occurrence's job and its outcome (the
    job's state), and each occurrence its overlap or misfire policy skipped (outcome
    `skipped`, with the reason), placed among the jobs by fire time."""
    schedule = await hub.store.get_schedule(ref)
    page = await hub.store.list_jobs(
        JobQuery(schedule_id=schedule.id, sort=JobSort.RUN_AT, limit=limit, cursor=cursor)
    )
    views = await job_views(hub.store, page.jobs)
    runs = [
        ScheduleRun(
            fire_at=_fire_at(schedule.id, view.idempotency_key), outcome=view.state, job=view
        )
        for view in views
    ]
    # The skips between this page's first job (the previous page showed those above it) and
    # its last (the next page shows those below); the last page shows all that are older.
    newest = None if cursor is None or not page.jobs else page.jobs[0].run_at
    oldest = page.jobs[-1].run_at if page.jobs and page.next_cursor is not None else None
    skips = await hub.store.schedule_skips(schedule.id, after=oldest, before=newest)
    runs += [
        ScheduleRun(fire_at=skip.fire_at.isoformat(), outcome="skipped", reason=skip.reason)
        for skip in skips
    ]
    runs.sort(key=lambda run: run.fire_at or (run.job.run_at if run.job else ""), reverse=True)
    return ScheduleRunsOut(
        schedule_id=schedule.id,
        schedule_name=schedule.name,
        runs=runs,
        next_cursor=page.next_cursor,
    )


def _fire_at(schedule_id: str, key: str | None) -> str | None:
    """Return the fire time an occurrence's idempotency key names (see occurrence_key);
    None for a run triggered by hand, which has no key."""
    prefix = occurrence_key(schedule_id, EPOCH)[: -len(EPOCH.isoformat())]
    if key is None or not key.startswith(prefix):
        return None
    with contextlib.suppress(ValueError):
        return datetime.fromisoformat(key.removeprefix(prefix)).isoformat()
    return None


async def _schedule_id(hub: Hub, ref: str) -> str:
    """Return the id of the schedule with that id or name (ScheduleNotFound if none)."""
    return (await hub.store.get_schedule(ref)).id
