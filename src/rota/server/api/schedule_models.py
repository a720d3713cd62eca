"""Response bodies of the schedules resource (and of the schedules reminders make)."""

from __future__ import annotations

from typing import Literal

from pydantic import Field

from rota.jobs import JobState
from rota.server.api.json_values import JsonList, JsonObject
from rota.server.api.models import Out


class ScheduleOut(Out):
    """A schedule: its definition (spans in `*_s` fields) and its state."""

    id: str
    name: str
    paused: bool
    task: str
    cron: str | None
    interval_s: float | None
    ics: str | None
    before_s: float
    tz: str
    args: JsonList
    kwargs: JsonObject
    queue: str
    priority: int
    target: str | None
    max_attempts: int
    timeout_s: float | None
    jitter_s: float
    start_at: str | None
    end_at: str | None
    misfire: Literal["skip", "once", "all"]
    misfire_limit: int
    overlap: Literal["allow", "skip"]
    deadline_s: float | None
    lookahead_s: float
    description: str | None = Field(description="the cron expression in words")
    next_fire_at: str | None = Field(description="None when it never fires again")
    last_fire_at: str | None
    created_at: str
    updated_at: str
    last_job_id: str | None
    last_job_state: JobState | None
    last_job_stopping: bool
    fired_count: int
    skipped_count: int
    version: int = Field(description="raised by every change")


class ScheduleDetail(ScheduleOut):
    """A schedule with its next fire times after now."""

    next_fire_times: list[str] = Field(description="the next 10 fire times")


class SchedulesOut(Out):
    schedules: list[ScheduleOut] = Field(description="by name")


class PreviewOut(Out):
    next_fire_times: list[str]
    description: str | None = Field(description="the cron expression in words")


class CalendarChangeOut(Out):
    """One line of an import's report."""

    action: Literal["added", "updated", "removed", "unchanged"]
    kind: Literal["reminder", "schedule"]
    uid: str
    recurrence_id: str | None
    summary: str
    at: str | None = Field(
        description="when the reminder sounds, or when the schedule fires next (None: never)"
    )


class CalendarImportOut(Out):
    """What an import changed (or, with dry_run, would change)."""

    dry_run: bool
    added: int
    updated: int
    removed: int
    unchanged: int
    past: int = Field(description="events whose time has passed, not imported")
    changes: list[CalendarChangeOut]
