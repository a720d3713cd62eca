"""A request for a reminder, and the jobs or schedules it becomes: the one translation.

`POST /api/v1/reminders` takes a `ReminderRequest` body; the Python client and `rota remind`
send one. `plan` turns it into rota.remind jobs (one-off) or schedules (recurring), so every
way in targets, times and keys reminders alike:

- `device` -> target `device:<name>`; `devices` -> one job (or schedule) per device; any
  device -> target tag `device`; all in queue `reminders`. Only `notify` -> one job in the
  default queue, for any ordinary worker. Devices and `notify` -> the device jobs (without
  the URLs) plus one notify job.
- `deadline` (seconds) -> the job expires unless started by due + deadline.
- `repeat` (cron, or hourly/daily/weekdays/weekly at the time of `at`) or `every` (seconds)
  -> schedules whose occurrences are written DEFAULT_HORIZON_S ahead when they go to
  devices, so a device is handed each one before it is due.
"""

from __future__ import annotations

import hashlib
import re
import secrets
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Annotated, Any, Final

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    field_validator,
    model_validator,
)

from rota.errors import InvalidInput
from rota.jobs import DEFAULT_QUEUE, JobSpec
from rota.moments import MAX_SPAN_S, check_span
from rota.reminders.model import (
    DEFAULT_HORIZON_S,
    DEVICE_TAG,
    MAX_NOTIFY_URLS,
    MAX_TEXT_CHARS,
    REMIND_TASK,
    REMINDER_QUEUE,
    ReminderError,
    ReminderSpec,
    device_tag,
)
from rota.reminders.when import due_at, repeat_cron
from rota.safe_text import excerpt
from rota.scheduling.cron import CronExpression
from rota.scheduling.model import ScheduleSpec
from rota.scheduling.triggers import parse_timezone

DEVICE_NAME: Final = r"^[A-Za-z0-9_.:@-]{1,100}$"
"""A device's name: a worker name (rota.jobs.WORKER_NAME_PATTERN), at most 100 characters."""
MAX_DEVICES: Final = 50
MIN_EVERY_S: Final = 60.0
"""The shortest repeat of a reminder: it rings for a person, and a minute is cron's step too."""
NOTIFY_SUFFIX: Final = "notify"
ANY_SUFFIX: Final = "any"
_NAME_UNSAFE: Final = re.compile(r"[^A-Za-z0-9_.:-]")

Key = Annotated[StrictStr, StringConstraints(min_length=1, max_length=100)]
DeviceName = Annotated[StrictStr, StringConstraints(pattern=DEVICE_NAME)]


class ReminderRequest(BaseModel):
    """A reminder to create: its text, when, where to, and how often.

    Exactly one of `device`, `devices` and `any_device`, or none of them with `notify`.
    `at` is "HH:MM" (the next one in `tz`), an ISO 8601 time (read in `tz` without an
    offset) or "in 10m"; it is required unless `repeat` or `every` is given, and with them
    it is when the schedule starts. `every`, `deadline` are seconds.
    """

    model_config = ConfigDict(extra="forbid", title="ReminderRequest")

    text: StrictStr = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    at: Annotated[StrictStr, StringConstraints(max_length=100)] | None = Field(
        None, description="HH:MM, an ISO 8601 time, or 'in 10m'"
    )
    tz: Annotated[StrictStr, StringConstraints(max_length=100)] = Field(
        "UTC", description="the IANA time zone `at` and `repeat` are read in"
    )
    device: DeviceName | None = Field(None, description="the device that rings it")
    devices: list[DeviceName] | None = Field(
        None,
        max_length=MAX_DEVICES,
        description="ring on each of these devices",
        # Stated for the API's schema; _some_devices checks them with a clearer message.
        json_schema_extra={"minItems": 1, "uniqueItems": True},
    )
    any_device: StrictBool = Field(False, description="ring on one online device")
    repeat: Annotated[StrictStr, StringConstraints(max_length=200)] | None = Field(
        None, description="a cron expression, or hourly, daily, weekdays or weekly"
    )
    every: StrictFloat | StrictInt | None = Field(
        None,
        le=MAX_SPAN_S,
        json_schema_extra={"minimum": MIN_EVERY_S},
        description="seconds between occurrences, at least a minute",
    )
    deadline: StrictFloat | StrictInt | None = Field(
        None,
        le=MAX_SPAN_S,
        json_schema_extra={"exclusiveMinimum": 0},
        description="seconds after it is due, more than 0; not rung by then: expired",
    )
    notify: list[StrictStr] = Field(
        default_factory=list, max_length=MAX_NOTIFY_URLS, description="Apprise URLs"
    )
    name: Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,60}$")] | None = (
        Field(None, description="the name of a recurring reminder's schedule")
    )
    idempotency_key: Key | None = Field(
        None, description="sending the same request again creates nothing new"
    )

    @field_validator("every")
    @classmethod
    def _every_minute_or_more(cls, value: float | None) -> float | None:
        if value is not None and not value >= MIN_EVERY_S:
            raise ValueError(f"a reminder repeats at most once a minute (got {value:g} s)")
        return value

    @field_validator("deadline")
    @classmethod
    def _deadline_after_due(cls, value: float | None) -> float | None:
        if value is not None and not value > 0:
            raise ValueError(
                f"must be more than 0 s after the due moment (got {value:g} s): a reminder "
                "without any slack would always expire"
            )
        return value

    @field_validator("devices")
    @classmethod
    def _some_devices(cls, value: list[str] | None) -> list[str] | None:
        if value is not None:
            if not value:
                raise ValueError("give at least one name")
            if len(set(value)) != len(value):
                raise ValueError("a name is given twice")
        return value

    @model_validator(mode="after")
    def _consistent(self) -> ReminderRequest:
        chosen = [
            flag
            for flag, given in (
                ("device", self.device is not None),
                ("devices", self.devices is not None),
                ("any_device", self.any_device),
            )
            if given
        ]
        if len(chosen) > 1:
            both = " and ".join(chosen)
            raise ValueError(f"give one of device, devices and any_device, not {both}")
        if not chosen and not self.notify:
            raise ValueError("say where it rings: device, devices, any_device or notify")
        if self.repeat is not None and self.every is not None:
            raise ValueError("give one of repeat and every, not both")
        if self.at is None and self.repeat is None and self.every is None:
            raise ValueError("at: field required (when the reminder is due)")
        return self


@dataclass(frozen=True, kw_only=True, slots=True)
class ReminderPlan:
    """What a reminder request becomes: jobs to submit, or schedules to create or update."""

    jobs: list[JobSpec] = field(default_factory=list)
    schedules: list[ScheduleSpec] = field(default_factory=list)


def plan(request: ReminderRequest, now: datetime) -> ReminderPlan:
    """Return the jobs or schedules of a request, read at `now` (aware; the store's clock).

    Raises InvalidInput naming the field at fault (time, zone, cron, URL, text).
    """
    zone = _field("tz", parse_timezone, request.tz)
    spec = _spec(request)
    due = None if request.at is None else due_at(request.at, zone, now)
    routes = _routes(request, spec)
    key = request.idempotency_key or secrets.token_hex(8)
    if request.repeat is None and request.every is None:
        if due is None:
            raise InvalidInput("at: field required (when the reminder is due)")
        deadline = None if request.deadline is None else due + timedelta(seconds=request.deadline)
        jobs = [
            JobSpec(
                task=REMIND_TASK,
                kwargs=kwargs,
                queue=queue,
                run_at=due,
                target=target,
                deadline_at=deadline,
                idempotency_key=f"remind:{key}:{suffix}",
            )
            for suffix, target, queue, kwargs in routes
        ]
        return ReminderPlan(jobs=jobs)
    cron, interval_s, start_at = _timing(request, zone, due, now)
    base = request.name or f"remind-{hashlib.sha256(key.encode()).hexdigest()[:12]}"
    schedules = [
        ScheduleSpec(
            name=base if len(routes) == 1 else f"{base}.{suffix}",
            task=REMIND_TASK,
            cron=cron,
            interval_s=interval_s,
            tz=request.tz,
            kwargs=kwargs,
            queue=queue,
            target=target,
            start_at=start_at,
            deadline_s=request.deadline,
            lookahead_s=DEFAULT_HORIZON_S if target is not None else 0.0,
        )
        for suffix, target, queue, kwargs in routes
    ]
    for schedule in schedules:
        _field("repeat" if cron is not None else "every", lambda s: s.validate(), schedule)
    return ReminderPlan(schedules=schedules)


def _spec(request: ReminderRequest) -> ReminderSpec:
    try:
        return ReminderSpec.parse({"text": request.text, "notify": request.notify})
    except ReminderError as exc:
        words = exc.message.removeprefix("invalid reminder: ").replace("Value error, ", "")
        raise InvalidInput(words) from None


def _routes(
    request: ReminderRequest, spec: ReminderSpec
) -> list[tuple[str, str | None, str, dict[str, Any]]]:
    """Return (name suffix, target, queue, kwargs) for each job a reminder needs."""
    device_kwargs = spec.model_copy(update={"notify": ()}).as_kwargs()
    if request.device is not None:
        names = [request.device]
    elif request.devices is not None:
        names = list(request.devices)
    else:
        names = []
    routes: list[tuple[str, str | None, str, dict[str, Any]]] = [
        (_NAME_UNSAFE.sub("-", name), device_tag(name), REMINDER_QUEUE, device_kwargs)
        for name in names
    ]
    if request.any_device:
        routes.append((ANY_SUFFIX, DEVICE_TAG, REMINDER_QUEUE, device_kwargs))
    if spec.notify:
        routes.append((NOTIFY_SUFFIX, None, DEFAULT_QUEUE, spec.as_kwargs()))
    return routes


def _timing(
    request: ReminderRequest, zone: Any, due: datetime | None, now: datetime
) -> tuple[str | None, float | None, datetime | None]:
    """Return (cron, interval_s, start_at) of a recurring reminder."""
    if request.every is not None:
        check_span(request.every, "every", positive=True)
        return None, request.every, due if due is not None else now
    wall = None if due is None else due.astimezone(zone).replace(tzinfo=None)
    cron = repeat_cron(request.repeat or "", wall)
    seconds = _field("repeat", CronExpression.parse, cron).seconds
    if len(seconds) > 1:  # the same floor as `every`: a person is rung once a minute at most
        raise InvalidInput(
            f"repeat: a reminder repeats at most once a minute ({excerpt(cron)} rings "
            f"{len(seconds)} times in one)"
        )
    return cron, None, due


def _field(name: str, build: Any, value: Any) -> Any:
    try:
        return build(value)
    except InvalidInput as exc:
        message = exc.message
        if not message.startswith(f"{name}:"):
            message = f"{name}: {message.removeprefix('cron: ').removeprefix('interval_s: ')}"
        raise InvalidInput(message) from None
