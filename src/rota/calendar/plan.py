"""What importing a calendar asks for, and how that differs from what was imported before.

Pure: the store's contents and the time are passed in. A single event becomes a reminder
(a `rota.remind` job at its start minus `before_s`); a recurring one (RRULE, RDATE, or an
override) a schedule with a calendar trigger. Both are keyed by (calendar, UID, recurrence
id): the kwargs of a reminder carry them, a schedule is named `ics:<calendar>:<digest of
the UID>`. An event that has begun is not imported (one whose reminder time has passed but
that has not begun sounds at once); one that already was is left alone.
"""

from __future__ import annotations

import enum
import hashlib
import re
from collections.abc import Sequence
from dataclasses import dataclass, field, replace
from datetime import UTC, datetime, timedelta
from typing import Any, Final

import icalendar

from rota.calendar.expand import occurrences_after, parse_stored
from rota.calendar.reading import CalendarEvent
from rota.errors import InvalidInput
from rota.jobs import Job, JobSpec
from rota.reminders.model import (
    DEFAULT_HORIZON_S,
    MAX_TEXT_CHARS,
    REMIND_TASK,
    REMINDER_QUEUE,
    ReminderSpec,
    plain_text,
)
from rota.scheduling.model import Schedule, ScheduleSpec
from rota.scheduling.planner import first_fire_at
from rota.scheduling.triggers import parse_timezone

CALENDAR_NAME: Final = re.compile(r"^[A-Za-z0-9_.-]{1,40}$")
NO_TITLE: Final = "(no title)"
_EARLIEST_AT: Final = datetime(1900, 1, 1, tzinfo=UTC)


class Action(enum.StrEnum):
    """What an import does to one reminder or schedule."""

    ADDED = "added"
    UPDATED = "updated"
    REMOVED = "removed"
    UNCHANGED = "unchanged"


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportOptions:
    """How a calendar is imported: its name, where its reminders go, how early they sound."""

    calendar: str
    target: str | None = None
    """`device:<name>` for one device, `device` for any online one."""
    before_s: float = 0.0
    tz: str = "UTC"
    """The zone of floating times and all-day events (which start at midnight there)."""

    def validate(self) -> ImportOptions:
        """Return the options if valid; else raise InvalidInput naming the field."""
        if not isinstance(self.calendar, str) or not CALENDAR_NAME.fullmatch(self.calendar):
            raise InvalidInput("calendar: must be 1-40 letters, digits or any of _ . -")
        ReminderSpec.parse({"text": "x", "before_s": self.before_s})
        parse_timezone(self.tz)
        return self

    @property
    def prefix(self) -> str:
        """Return how the names of this calendar's schedules begin."""
        return f"ics:{self.calendar}:"


@dataclass(frozen=True, kw_only=True, slots=True)
class Change:
    """One line of an import's report."""

    action: Action
    kind: str
    """`reminder` or `schedule`."""
    uid: str
    recurrence_id: str | None
    summary: str
    at: datetime | None
    """When the reminder sounds, or when the schedule fires next (None: never again)."""

    def to_dict(self) -> dict[str, Any]:
        """Return the change as JSON-ready data."""
        return {
            "action": str(self.action),
            "kind": self.kind,
            "uid": self.uid,
            "recurrence_id": self.recurrence_id,
            "summary": self.summary,
            "at": None if self.at is None else self.at.isoformat(),
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class WantedReminder:
    """A single event's reminder as the file asks for it."""

    spec: JobSpec
    uid: str
    recurrence_id: str | None
    summary: str
    start_at: datetime
    """When the event starts: until then its reminder is still worth sounding, if late."""

    @property
    def identity(self) -> tuple[str, str | None]:
        """Return (UID, recurrence id): what keys the reminder within its calendar."""
        return self.uid, self.recurrence_id


@dataclass(frozen=True, kw_only=True, slots=True)
class Wanted:
    """Everything a calendar file asks for."""

    reminders: list[WantedReminder] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)


@dataclass(frozen=True, kw_only=True, slots=True)
class ImportPlan:
    """The writes that bring the store in line with the file, and the report of them."""

    changes: list[Change] = field(default_factory=list)
    submit: list[JobSpec] = field(default_factory=list)
    cancel: list[str] = field(default_factory=list)
    """Ids of reminder jobs to cancel (removed, or replaced by a changed one)."""
    upsert: list[ScheduleSpec] = field(default_factory=list)
    delete: list[str] = field(default_factory=list)
    """Ids of schedules to remove."""
    past: int = 0
    """Events of the file whose time has passed, and so were not imported."""

    def to_dict(self, *, dry_run: bool) -> dict[str, Any]:
        """Return the report: counts by action, each change, and whether anything was done."""
        counts = {str(action): 0 for action in Action}
        for change in self.changes:
            counts[str(change.action)] += 1
        return {
            "dry_run": dry_run,
            **counts,
            "past": self.past,
            "changes": [change.to_dict() for change in self.changes],
        }


def _digest(*parts: str | None) -> str:
    text = "\x00".join("" if part is None else part for part in parts)
    return hashlib.sha256(text.encode()).hexdigest()


def schedule_name(options: ImportOptions, uid: str) -> str:
    """Return the name of the schedule of a recurring event."""
    return f"{options.prefix}{_digest(uid)[:24]}"


def _title(summary: str) -> str:
    return (plain_text(summary).strip() or NO_TITLE)[:MAX_TEXT_CHARS]


def _reminder_kwargs(options: ImportOptions, uid: str, summary: str) -> ReminderSpec:
    return ReminderSpec(
        text=_title(summary),
        calendar=options.calendar,
        uid=plain_text(uid)[:1000],
        before_s=options.before_s,
    )


def wanted(events: Sequence[CalendarEvent], options: ImportOptions) -> Wanted:
    """Return the reminders and schedules the calendar's events ask for (past ones too)."""
    zone = parse_timezone(options.tz)
    before = timedelta(seconds=options.before_s)
    found = Wanted()
    for event in events:
        spec = _reminder_kwargs(options, event.uid, event.summary)
        if event.recurring:
            found.schedules.append(
                ScheduleSpec(
                    name=schedule_name(options, event.uid),
                    task=REMIND_TASK,
                    ics=event.text,
                    before_s=options.before_s,
                    tz=options.tz,
                    kwargs=spec.as_kwargs(),
                    queue=REMINDER_QUEUE,
                    target=options.target,
                    lookahead_s=DEFAULT_HORIZON_S,  # written ahead, so devices hold it early
                )
            )
            continue
        calendar: icalendar.Calendar = parse_stored(event.text)
        for occurrence in occurrences_after(calendar, _EARLIEST_AT, zone):
            kwargs = spec.model_copy(update={"text": _title(occurrence.summary)}).as_kwargs()
            run_at = occurrence.start_at - before
            key = _digest(event.uid, None, run_at.isoformat(), options.target, str(kwargs))
            found.reminders.append(
                WantedReminder(
                    spec=JobSpec(
                        task=REMIND_TASK,
                        kwargs=kwargs,
                        queue=REMINDER_QUEUE,
                        run_at=run_at,
                        target=options.target,
                        idempotency_key=f"{options.prefix}{key[:32]}",
                    ),
                    uid=str(spec.uid),  # as the job keeps it: cleaned and cut
                    recurrence_id=None,
                    summary=_title(occurrence.summary),
                    start_at=occurrence.start_at,
                )
            )
    return found


def reminder_identity(job: Job) -> tuple[str, str | None]:
    """Return the (UID, recurrence id) an imported reminder job carries."""
    kwargs = job.kwargs or {}
    uid = kwargs.get("uid")
    recurrence_id = kwargs.get("recurrence_id")
    return str(uid), None if recurrence_id is None else str(recurrence_id)


def diff(
    want: Wanted,
    *,
    active: Sequence[Job],
    keyed: dict[str, Job],
    schedules: Sequence[Schedule],
    now: datetime,
) -> ImportPlan:
    """Return the plan that brings the store in line with what the file wants.

    `active`: this calendar's reminder jobs that are pending or running; `keyed`: the jobs
    (in any state) named by the idempotency keys of wanted reminders that have no active
    job; `schedules`: this calendar's schedules.
    """
    plan = ImportPlan()
    changes, cancel, submit = plan.changes, plan.cancel, plan.submit
    by_identity: dict[tuple[str, str | None], Job] = {}
    for job in active:
        if reminder_identity(job) in by_identity:
            cancel.append(job.id)  # a duplicate: keep one
        else:
            by_identity[reminder_identity(job)] = job
    wanted_identities = set()
    past = 0
    for reminder in want.reminders:
        wanted_identities.add(reminder.identity)
        run_at = reminder.spec.run_at or now
        current = by_identity.get(reminder.identity)
        change = Change(
            action=Action.UNCHANGED,
            kind="reminder",
            uid=reminder.uid,
            recurrence_id=reminder.recurrence_id,
            summary=reminder.summary,
            at=run_at,
        )
        started = reminder.start_at <= now
        if current is not None and current.idempotency_key != reminder.spec.idempotency_key:
            if started:
                changes.append(replace(change, at=current.run_at))  # due already: leave it
                continue
            cancel.append(current.id)
            if reminder.spec.idempotency_key not in keyed:
                submit.append(reminder.spec)
            changes.append(replace(change, action=Action.UPDATED))
        elif current is not None or reminder.spec.idempotency_key in keyed:
            changes.append(change)
        elif started:
            past += 1
        else:
            submit.append(reminder.spec)
            changes.append(replace(change, action=Action.ADDED))
    for identity, job in by_identity.items():
        if identity not in wanted_identities:
            cancel.append(job.id)
            changes.append(
                Change(
                    action=Action.REMOVED,
                    kind="reminder",
                    uid=identity[0],
                    recurrence_id=identity[1],
                    summary=str((job.kwargs or {}).get("text", "")),
                    at=job.run_at,
                )
            )
    past += _diff_schedules(plan, want.schedules, schedules, now)
    return replace(plan, past=past)


def _diff_schedules(
    plan: ImportPlan, want: Sequence[ScheduleSpec], existing: Sequence[Schedule], now: datetime
) -> int:
    """Add the schedule changes to the plan; return how many wanted ones are wholly past."""
    current = {schedule.name: schedule for schedule in existing}
    past = 0
    for spec in want:
        schedule = current.pop(spec.name, None)
        next_at = first_fire_at(spec.trigger(), now)
        change = Change(
            action=Action.UNCHANGED,
            kind="schedule",
            uid=str(spec.kwargs.get("uid")),
            recurrence_id=None,
            summary=str(spec.kwargs.get("text", "")),
            at=next_at,
        )
        if schedule is None:
            if next_at is None:
                past += 1
                continue
            plan.upsert.append(spec)
            plan.changes.append(replace(change, action=Action.ADDED))
        elif replace(spec, paused=schedule.spec.paused) != schedule.spec:
            plan.upsert.append(spec)
            plan.changes.append(replace(change, action=Action.UPDATED))
        else:
            plan.changes.append(change)
    for schedule in current.values():
        plan.delete.append(schedule.id)
        plan.changes.append(
            Change(
                action=Action.REMOVED,
                kind="schedule",
                uid=str(schedule.spec.kwargs.get("uid")),
                recurrence_id=None,
                summary=str(schedule.spec.kwargs.get("text", "")),
                at=schedule.next_fire_at,
            )
        )
    return past
