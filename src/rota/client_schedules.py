"""The client's schedule methods (mixed into AsyncClient; Client wraps them as for jobs)."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from datetime import datetime, timedelta
from typing import Any

from rota.client_requester import Requester
from rota.client_urls import segment
from rota.errors import InvalidInput
from rota.moments import MAX_TIMEOUT_S, wire_moment, wire_span
from rota.types import JSON, Payload
from rota.values import check_arguments

ScheduleData = dict[str, Any]
"""A schedule as the API returns it: `Schedule.to_dict()`, plus `next_fire_times`."""


def schedule_body(
    task: str,
    args: Sequence[JSON] = (),
    kwargs: Mapping[str, JSON] | None = None,
    *,
    name: str | None = None,
    cron: str | None = None,
    interval: float | timedelta | None = None,
    tz: str | None = None,
    queue: str | None = None,
    priority: int | None = None,
    target: str | None = None,
    max_attempts: int | None = None,
    timeout: float | timedelta | None = None,
    jitter: float | timedelta | None = None,
    start_at: datetime | str | None = None,
    end_at: datetime | str | None = None,
    paused: bool | None = None,
    misfire: str | None = None,
    misfire_limit: int | None = None,
    overlap: str | None = None,
    deadline: float | timedelta | None = None,
    lookahead: float | timedelta | None = None,
) -> Payload:
    """Return the ScheduleCreate body; options left as None are left out (server defaults).

    Spans (`interval`, `timeout`, `jitter`, `deadline`, `lookahead`) are seconds or
    timedeltas.
    """
    if isinstance(args, str | bytes | Mapping):
        raise InvalidInput("args must be a list of arguments, not a single value")
    checked_args, checked_kwargs = check_arguments(list(args), dict(kwargs or {}))
    body: Payload = {"task": task, "args": checked_args, "kwargs": checked_kwargs}
    values: dict[str, Any] = {
        "name": name,
        "cron": cron,
        "interval": wire_span(interval, "interval", positive=True),
        "tz": tz,
        "queue": queue,
        "priority": priority,
        "target": target,
        "max_attempts": max_attempts,
        "timeout": wire_span(timeout, "timeout", positive=True, max_s=MAX_TIMEOUT_S),
        "jitter": wire_span(jitter, "jitter"),
        "start_at": wire_moment(start_at, "start_at"),
        "end_at": wire_moment(end_at, "end_at"),
        "paused": paused,
        "misfire": misfire,
        "misfire_limit": misfire_limit,
        "overlap": overlap,
        "deadline": wire_span(deadline, "deadline"),
        "lookahead": wire_span(lookahead, "lookahead"),
    }
    body.update({key: value for key, value in values.items() if value is not None})
    return body


class ScheduleMethods(Requester):
    """Create, list, show, change, pause, resume, trigger and remove schedules."""

    async def add_schedule(self, name: str, task: str, *args: JSON, **options: Any) -> ScheduleData:
        """Create a schedule (ScheduleExists if the name is taken) and return it.

        Options are those of `schedule_body`: cron= or interval=, tz=, kwargs=, queue=, ...
        """
        body = schedule_body(task, args, name=name, **options)
        created: ScheduleData = await self._request("POST", "/schedules", json=body)
        return created

    async def put_schedule(self, name: str, task: str, *args: JSON, **options: Any) -> ScheduleData:
        """Create the schedule, or bring the one of that name up to this definition."""
        body = schedule_body(task, args, **options)
        schedule: ScheduleData = await self._request(
            "PUT", f"/schedules/{segment(name, 'schedule')}", json=body
        )
        return schedule

    async def schedules(self) -> list[ScheduleData]:
        """Return every schedule, by name."""
        body: Payload = await self._request("GET", "/schedules")
        schedules: list[ScheduleData] = body["schedules"]
        return schedules

    async def get_schedule(self, ref: str) -> ScheduleData:
        """Return the schedule (by id or name) with its next 10 fire times."""
        schedule: ScheduleData = await self._request(
            "GET", f"/schedules/{segment(ref, 'schedule')}"
        )
        return schedule

    async def schedule_runs(
        self, ref: str, *, limit: int | None = None, cursor: str | None = None
    ) -> Payload:
        """Return the schedule's runs, newest first: {"runs": [...], "next_cursor": ...}."""
        params = {"limit": limit, "cursor": cursor}
        runs: Payload = await self._request(
            "GET",
            f"/schedules/{segment(ref, 'schedule')}/runs",
            params={key: value for key, value in params.items() if value is not None},
        )
        return runs

    async def update_schedule(self, ref: str, /, **changes: Any) -> ScheduleData:
        """Change fields of a schedule (the SchedulePatch body's names) and return it."""
        body = {key: _jsonable(key, value) for key, value in changes.items()}
        if "args" in body:
            body["args"], _ = check_arguments(body["args"], {})
        if "kwargs" in body:
            _, body["kwargs"] = check_arguments([], body["kwargs"])
        schedule: ScheduleData = await self._request(
            "PATCH", f"/schedules/{segment(ref, 'schedule')}", json=body
        )
        return schedule

    async def delete_schedule(self, ref: str) -> ScheduleData:
        """Remove the schedule and return it as it was."""
        schedule: ScheduleData = await self._request(
            "DELETE", f"/schedules/{segment(ref, 'schedule')}"
        )
        return schedule

    async def pause_schedule(self, ref: str) -> ScheduleData:
        """Pause the schedule and return it."""
        schedule: ScheduleData = await self._request(
            "POST", f"/schedules/{segment(ref, 'schedule')}/pause"
        )
        return schedule

    async def resume_schedule(self, ref: str) -> ScheduleData:
        """Resume the schedule and return it."""
        schedule: ScheduleData = await self._request(
            "POST", f"/schedules/{segment(ref, 'schedule')}/resume"
        )
        return schedule

    async def trigger_schedule(self, ref: str) -> Payload:
        """Run the schedule's task now and return the job."""
        job: Payload = await self._request("POST", f"/schedules/{segment(ref, 'schedule')}/trigger")
        return job


def _jsonable(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return wire_moment(value, name)
    if isinstance(value, timedelta):
        return wire_span(value, name)
    if isinstance(value, tuple):
        return list(value)
    return value
