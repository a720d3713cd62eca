"""Schedules as values: what a user declares (ScheduleSpec) and what the store keeps (Schedule).

A schedule is a cron expression read in an IANA time zone, a fixed interval, or the
occurrences of a calendar event (an iCalendar text), plus the job
each occurrence becomes and the policies for downtime (misfire) and for an occurrence that
is still running when the next one comes (overlap). See docs/schedules.md.
"""

from __future__ import annotations

import enum
import re
from dataclasses import dataclass, field, fields, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

from rota.errors import InvalidInput
from rota.jobs import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, JobSpec, JobState
from rota.moments import MAX_TIMEOUT_S, check_moment, check_span
from rota.safe_text import excerpt
from rota.scheduling.calendar_trigger import CalendarTrigger
from rota.scheduling.cron import CronExpression
from rota.scheduling.cron_words import describe_cron
from rota.scheduling.triggers import CronTrigger, IntervalTrigger, Trigger, parse_timezone
from rota.tasks.registry import validate_task_name
from rota.types import JSON
from rota.values import readable

SCHEDULE_NAME: Final = re.compile(r"^[A-Za-z0-9_.:-]{1,100}$")
DEFAULT_MISFIRE_LIMIT: Final = 100
MAX_LOOKAHEAD_S: Final = 3600.0
"""The longest a schedule may ask its occurrences to be written ahead of their fire time."""
MAX_MISFIRE_LIMIT: Final = 10_000
# Fields of ScheduleSpec that decide when it fires; a change to any of them moves next_fire_at.
TIMING_FIELDS: Final = frozenset(
    {"cron", "interval_s", "ics", "before_s", "tz", "start_at", "end_at"}
)
_KINDS: Final = ("cron", "interval_s", "ics")


class Misfire(enum.StrEnum):
    """What to do with the occurrences missed while no server was running."""

    SKIP = "skip"
    """Run none of them; continue with the next future occurrence."""
    ONCE = "once"
    """Run the latest missed occurrence once, then continue."""
    ALL = "all"
    """Run every missed occurrence (the latest `misfire_limit` of them), then continue."""


class Overlap(enum.StrEnum):
    """What to do when an occurrence comes while the previous one has not finished."""

    ALLOW = "allow"
    SKIP = "skip"
    """Skip the new occurrence while the previous one is pending or running."""


@dataclass(frozen=True, kw_only=True, slots=True)
class ScheduleSpec:
    """A schedule as declared: when it fires, the job each occurrence becomes, its policies."""

    name: str
    task: str
    cron: str | None = None
    """5 or 6 fields, or an alias such as @daily; not with interval_s."""
    interval_s: float | None = None
    """Real elapsed seconds between occurrences; not with cron."""
    ics: str | None = None
    """An iCalendar text (a VCALENDAR with one event's VEVENTs and their VTIMEZONEs): the
    schedule fires `before_s` ahead of each of its occurrences. Each occurrence's job gets
    kwargs `recurrence_id` (the occurrence's original start) and, where the schedule's
    kwargs have a `text`, the occurrence's SUMMARY as `text`. Not with cron or interval_s."""
    before_s: float = 0.0
    """How long before each calendar occurrence the schedule fires (with ics only)."""
    tz: str = "UTC"
    """The IANA time zone the cron expression is read in (for ics: floating times and
    all-day events)."""
    args: list[JSON] = field(default_factory=list)
    kwargs: dict[str, JSON] = field(default_factory=dict)
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    target: str | None = None
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_s: float | None = None
    jitter_s: float = 0.0
    """Each occurrence's run_at is its fire time plus a random delay in [0, jitter_s]."""
    start_at: datetime | None = None
    end_at: datetime | None = None
    paused: bool = False
    misfire: Misfire = Misfire.ONCE
    misfire_limit: int = DEFAULT_MISFIRE_LIMIT
    overlap: Overlap = Overlap.ALLOW
    deadline_s: float | None = None
    """An occurrence not started this long after its fire time expires."""
    lookahead_s: float = 0.0
    """Write each occurrence at least this long before its fire time (up to MAX_LOOKAHEAD_S),
    for workers that take work ahead of its time: a device is handed a reminder minutes
    early. Its run_at stays the fire time. Not with overlap=skip, which decides at the fire
    time whether the previous run is still going."""

    def validate(self) -> ScheduleSpec:
        """Return the spec if it is valid; else raise InvalidInput saying which field is wrong."""
        if not isinstance(self.name, str) or not SCHEDULE_NAME.fullmatch(self.name):
            raise InvalidInput(
                f"name: {excerpt(self.name)} is not 1-100 letters, digits or any of _ . : -"
            )
        try:
            validate_task_name(self.task)
        except InvalidInput as exc:
            raise InvalidInput(f"task: {exc.message}") from None
        if sum(getattr(self, name) is not None for name in _KINDS) != 1:
            raise InvalidInput(
                "give exactly one of cron and interval_s (or ics), not several and not none"
            )
        check_span(self.before_s, "before_s")
        if self.before_s and self.ics is None:
            raise InvalidInput("before_s: only a calendar schedule (ics) fires before its time")
        for name in ("jitter_s", "deadline_s"):
            if getattr(self, name) is not None:
                check_span(getattr(self, name), name)
        if self.interval_s is not None:
            check_span(self.interval_s, "interval_s", positive=True)
        if self.timeout_s is not None:
            check_span(self.timeout_s, "timeout_s", positive=True, max_s=MAX_TIMEOUT_S)
        for name in ("start_at", "end_at"):
            if getattr(self, name) is not None:
                check_moment(getattr(self, name), name)
        check_span(self.lookahead_s, "lookahead_s", max_s=MAX_LOOKAHEAD_S)
        if self.lookahead_s > 0 and Overlap(self.overlap) is Overlap.SKIP:
            raise InvalidInput(
                "lookahead_s: not with overlap=skip, which decides at the fire time "
                "whether the previous occurrence still runs"
            )
        if not 1 <= self.misfire_limit <= MAX_MISFIRE_LIMIT:
            raise InvalidInput(f"misfire_limit: must be between 1 and {MAX_MISFIRE_LIMIT}")
        if self.max_attempts < 1:
            raise InvalidInput("max_attempts: must be at least 1")
        Misfire(self.misfire)
        Overlap(self.overlap)
        self.trigger()
        return self

    def trigger(self) -> Trigger:
        """Return the trigger that says when the schedule fires (InvalidInput naming the field)."""
        zone = _field("tz", parse_timezone, self.tz)
        if self.cron is not None:
            expression = _field("cron", CronExpression.parse, self.cron)
            trigger: Trigger = _field(
                "cron",
                lambda e: CronTrigger(e, zone, start_at=self.start_at, end_at=self.end_at),
                expression,
            )
            return trigger
        if self.ics is not None:
            trigger = _field(
                "ics",
                lambda text: CalendarTrigger(
                    text,
                    zone,
                    before_s=self.before_s,
                    start_at=self.start_at,
                    end_at=self.end_at,
                ),
                self.ics,
            )
            return trigger
        trigger = _field(
            "interval_s",
            lambda s: IntervalTrigger(s, start_at=self.start_at, end_at=self.end_at),
            self.interval_s,
        )
        return trigger

    def job_spec(self, schedule_id: str, fire_at: datetime, run_at: datetime) -> JobSpec:
        """Return the job of the occurrence at `fire_at`, keyed by (schedule, fire time)."""
        return JobSpec(
            task=self.task,
            args=list(self.args),
            kwargs=self._occurrence_kwargs(fire_at),
            queue=self.queue,
            priority=self.priority,
            run_at=run_at,
            target=self.target,
            max_attempts=self.max_attempts,
            timeout_s=self.timeout_s,
            deadline_at=(
                None if self.deadline_s is None else fire_at + timedelta(seconds=self.deadline_s)
            ),
            idempotency_key=occurrence_key(schedule_id, fire_at),
            schedule_id=schedule_id,
        )

    def _occurrence_kwargs(self, fire_at: datetime) -> dict[str, JSON]:
        kwargs = dict(self.kwargs)
        if self.ics is None:
            return kwargs
        trigger = self.trigger()
        if not isinstance(trigger, CalendarTrigger):
            return kwargs
        occurrence = trigger.occurrence_at(fire_at)
        if occurrence is not None:
            kwargs["recurrence_id"] = occurrence.recurrence_id
            if "text" in kwargs and occurrence.summary:
                kwargs["text"] = occurrence.summary
        return kwargs

    def definition(self) -> dict[str, JSON]:
        """Return every field but name and paused as JSON-ready data (how stores keep it)."""
        data: dict[str, JSON] = {}
        for item in fields(self):
            if item.name in ("name", "paused"):
                continue
            value = getattr(self, item.name)
            if isinstance(value, datetime):
                value = value.isoformat()
            elif isinstance(value, enum.Enum):
                value = value.value
            data[item.name] = value
        return data

    @classmethod
    def from_definition(cls, name: str, paused: bool, data: dict[str, Any]) -> ScheduleSpec:
        """Return the spec a stored definition describes."""
        values = dict(data)
        for key in ("start_at", "end_at"):
            if values.get(key) is not None:
                values[key] = datetime.fromisoformat(values[key])
        values["misfire"] = Misfire(values.get("misfire", Misfire.ONCE))
        values["overlap"] = Overlap(values.get("overlap", Overlap.ALLOW))
        return cls(name=name, paused=paused, **values)

    def changed(self, **changes: Any) -> ScheduleSpec:
        """Return a copy with these fields changed (cron, interval_s and ics replace each
        other)."""
        for kind in _KINDS:
            if changes.get(kind) is not None:
                for other in _KINDS:
                    if other != kind:
                        changes.setdefault(other, None)
        if changes.get("ics", self.ics) is None:
            changes.setdefault("before_s", 0.0)
        return replace(self, **changes)


_NAMES_ITS_FIELD: Final = re.compile(r"^(start_at|end_at|interval_s): ")


def _field(name: str, build: Any, value: Any) -> Any:
    """Return build(value); an InvalidInput is said to be about `name`, unless its message
    names the field at fault already (a trigger's "end_at: must not be before start_at")."""
    try:
        return build(value)
    except InvalidInput as exc:
        if _NAMES_ITS_FIELD.match(exc.message):
            raise
        raise InvalidInput(f"{name}: {exc.message}") from None


def occurrence_key(schedule_id: str, fire_at: datetime) -> str:
    """Return the idempotency key of a schedule's occurrence: one job per fire time."""
    return f"schedule:{schedule_id}:{fire_at.astimezone(UTC).isoformat()}"


@dataclass(frozen=True, kw_only=True, slots=True)
class Schedule:
    """A stored schedule: its spec, and where it is in time."""

    id: str
    spec: ScheduleSpec
    next_fire_at: datetime | None
    """The first occurrence not yet written as a job; None when it never fires again."""
    last_fire_at: datetime | None = None
    last_job_id: str | None = None
    last_job_state: JobState | None = None
    """The state of the last occurrence's job, as read with the schedule."""
    last_job_stopping: bool = False
    """Whether the last occurrence's job was cancelled while its code still runs."""
    fired_count: int = 0
    skipped_count: int = 0
    """Occurrences not run because the previous one was still pending or running."""
    version: int = 1
    """Raised by every change; writers compare-and-set on it."""
    created_at: datetime
    updated_at: datetime

    @property
    def name(self) -> str:
        """Return the schedule's unique name."""
        return self.spec.name

    def to_dict(self) -> dict[str, Any]:
        """Return the schedule as JSON-ready data: its spec's fields and its state."""
        data: dict[str, Any] = {"id": self.id, "name": self.name, "paused": self.spec.paused}
        data.update(self.spec.definition())
        cron = data.get("cron")
        data["description"] = describe_cron(cron) if isinstance(cron, str) else None
        data["args"], data["kwargs"] = readable(data["args"]), readable(data["kwargs"])
        for key in ("next_fire_at", "last_fire_at", "created_at", "updated_at"):
            moment = getattr(self, key)
            data[key] = None if moment is None else moment.isoformat()
        data["last_job_id"] = self.last_job_id
        data["last_job_state"] = None if self.last_job_state is None else str(self.last_job_state)
        data["last_job_stopping"] = self.last_job_stopping
        data["fired_count"] = self.fired_count
        data["skipped_count"] = self.skipped_count
        data["version"] = self.version
        return data


@dataclass(frozen=True, kw_only=True, slots=True)
class Skip:
    """An occurrence a scheduler round did not run, and why (its overlap or misfire policy)."""

    fire_at: datetime
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Firing:
    """What one scheduler round writes for a schedule, all in one transaction or not at all."""

    schedule_id: str
    version: int
    """The version the plan was made from: the write happens only if it is still current."""
    next_fire_at: datetime | None
    last_fire_at: datetime | None
    jobs: list[JobSpec]
    skipped: int = 0
    skips: list[Skip] = field(default_factory=list)
    """The occurrences this round did not run, each with why (the newest MAX_SKIPS_SAID of
    those the overlap policy dropped, and the first one the misfire policy dropped)."""
