"""Request bodies of the schedules resource: strict pydantic models, turned into ScheduleSpecs.

As for jobs, spans are plain seconds on the wire (`interval`, `jitter`, `timeout`,
`deadline`), and the answers name them with their unit (`interval_s`, ...).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from pydantic import (
    BaseModel,
    ConfigDict,
    Field,
    StrictBool,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    field_validator,
    model_validator,
)

from rota.errors import InvalidInput
from rota.jobs import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE
from rota.safe_text import excerpt
from rota.scheduling.calendar_trigger import MAX_ICS_CHARS
from rota.scheduling.cron_parse import MAX_CRON_CHARS
from rota.scheduling.model import (
    DEFAULT_MISFIRE_LIMIT,
    MAX_LOOKAHEAD_S,
    MAX_MISFIRE_LIMIT,
    Misfire,
    Overlap,
    ScheduleSpec,
)
from rota.scheduling.triggers import MAX_TIMEZONE_CHARS
from rota.server.api.fields import Moment, PositiveSeconds, Seconds, TimeoutSeconds
from rota.server.api.json_values import JsonList, JsonObject
from rota.server.api.schemas import Priority, QueueName, ShortText, TaskName
from rota.tasks import validate_task_name
from rota.validation_text import describe_validation_errors
from rota.values import check_arguments

ScheduleName = Annotated[StrictStr, StringConstraints(pattern=r"^[A-Za-z0-9_.:-]{1,100}$")]
# Wire names -> ScheduleSpec field names.
_RENAMED = {"interval": "interval_s", "jitter": "jitter_s", "timeout": "timeout_s"}
_RENAMED["deadline"] = "deadline_s"
_RENAMED["lookahead"] = "lookahead_s"
_RENAMED["before"] = "before_s"


class _ScheduleFields(BaseModel):
    """The fields a schedule body may carry; every one optional here."""

    model_config = ConfigDict(extra="forbid")

    task: TaskName | None = Field(None, description="the registered task name")
    cron: Annotated[StrictStr, StringConstraints(max_length=MAX_CRON_CHARS)] | None = Field(
        None, description="5 or 6 fields (seconds first), or @hourly, @daily, ..."
    )
    interval: PositiveSeconds | None = Field(
        None, description="seconds of real time between occurrences"
    )
    ics: Annotated[StrictStr, StringConstraints(max_length=MAX_ICS_CHARS)] | None = Field(
        None,
        description="an iCalendar text with one event (its VEVENTs and VTIMEZONEs): fires "
        "at each occurrence, `before` seconds ahead",
    )
    before: Seconds | None = Field(
        None, description="with ics: seconds before each occurrence that it fires"
    )
    tz: Annotated[StrictStr, StringConstraints(max_length=MAX_TIMEZONE_CHARS)] | None = Field(
        None, description="IANA time zone of the cron expression (ics: of floating times)"
    )
    args: JsonList | None = None
    kwargs: JsonObject | None = None
    queue: QueueName | None = None
    priority: Priority | None = None
    target: ShortText | None = Field(None, description="a worker name or tag")
    max_attempts: StrictInt | None = Field(None, ge=1, le=1000)
    timeout: TimeoutSeconds | None = Field(None, description="seconds")
    jitter: Seconds | None = Field(None, description="random delay of up to this many seconds")
    start_at: Moment | None = None
    end_at: Moment | None = None
    paused: StrictBool | None = None
    misfire: Literal["skip", "once", "all"] | None = Field(
        None, description="after downtime: skip, once (the default) or all"
    )
    misfire_limit: StrictInt | None = Field(None, ge=1, le=MAX_MISFIRE_LIMIT)
    overlap: Literal["allow", "skip"] | None = Field(
        None, description="allow, or skip while the last occurrence is pending or running"
    )
    deadline: Seconds | None = Field(
        None, description="seconds after the fire time; not started by then, it expires"
    )
    lookahead: Seconds | None = Field(
        None,
        description=f"write each occurrence this many seconds before its fire time "
        f"(at most {MAX_LOOKAHEAD_S:g}; not with overlap=skip), for devices that take work "
        "ahead of its time",
    )

    @field_validator("task")
    @classmethod
    def _task_name(cls, value: str | None) -> str | None:
        return None if value is None else validate_task_name(value)

    def changes(self) -> dict[str, Any]:
        """Return the fields the body set, under ScheduleSpec's names."""
        changes: dict[str, Any] = {}
        for name in self.model_fields_set:
            value = getattr(self, name)
            if isinstance(value, datetime):
                value = value.astimezone(UTC)
            elif name == "misfire" and value is not None:
                value = Misfire(value)
            elif name == "overlap" and value is not None:
                value = Overlap(value)
            changes[_RENAMED.get(name, name)] = value
        return changes


class ScheduleCreate(_ScheduleFields):
    """A new schedule: a name, a task, and exactly one of cron, interval and ics."""

    model_config = ConfigDict(extra="forbid", title="ScheduleCreate")

    name: ScheduleName = Field(description="unique; letters, digits and _ . : -")
    task: TaskName = Field(description="the registered task name, e.g. 'app.report'")

    @model_validator(mode="after")
    def _one_timing(self) -> ScheduleCreate:
        if [self.cron, self.interval, self.ics].count(None) != 2:
            raise ValueError(
                "give exactly one of cron and interval (or ics), not both and not neither"
            )
        return self

    def to_spec(self) -> ScheduleSpec:
        """Return the ScheduleSpec, validated (InvalidInput naming the field at fault)."""
        values: dict[str, Any] = {
            "tz": "UTC",
            "queue": DEFAULT_QUEUE,
            "max_attempts": DEFAULT_MAX_ATTEMPTS,
            "misfire_limit": DEFAULT_MISFIRE_LIMIT,
        }
        values.update({k: v for k, v in self.changes().items() if v is not None})
        values["args"], values["kwargs"] = check_arguments(
            values.get("args", []), values.get("kwargs", {})
        )
        return ScheduleSpec(**values).validate()


class SchedulePatch(_ScheduleFields):
    """Changes to a schedule; fields left out stay as they are (null clears an optional one)."""

    model_config = ConfigDict(extra="forbid", title="SchedulePatch")

    @model_validator(mode="after")
    def _something(self) -> SchedulePatch:
        if not self.model_fields_set:
            raise ValueError("nothing to change: give at least one field")
        if [self.cron, self.interval, self.ics].count(None) < 2:
            raise ValueError("give one of cron, interval and ics, not several")
        return self

    def to_changes(self) -> dict[str, Any]:
        """Return the changes under ScheduleSpec's names; required fields cannot be null."""
        changes = self.changes()
        for name in ("task", "tz", "args", "kwargs", "queue", "priority", "max_attempts"):
            if name in changes and changes[name] is None:
                raise InvalidInput(f"{name}: may not be null")
        for name in (
            "jitter_s",
            "before_s",
            "paused",
            "misfire",
            "misfire_limit",
            "overlap",
            "lookahead_s",
        ):
            if name in changes and changes[name] is None:
                raise InvalidInput(f"{_wire(name)}: may not be null")
        if all(changes.get(name, 0) is None for name in ("cron", "interval_s", "ics")):
            raise InvalidInput("give one of cron, interval and ics: a schedule needs one")
        if "args" in changes or "kwargs" in changes:
            args, kwargs = check_arguments(changes.get("args", []), changes.get("kwargs", {}))
            if "args" in changes:
                changes["args"] = args
            if "kwargs" in changes:
                changes["kwargs"] = kwargs
        return changes


def _wire(name: str) -> str:
    for wire, field in _RENAMED.items():
        if field == name:
            return wire
    return name


_CREATE = TypeAdapter(ScheduleCreate)
_PATCH = TypeAdapter(SchedulePatch)


def parse_create(data: Any, *, name: str | None = None) -> ScheduleSpec:
    """Return the ScheduleSpec a create body describes (with `name` from the path, if any)."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    if name is not None:
        if data.setdefault("name", name) != name:
            raise InvalidInput(
                f"name: the body says {excerpt(data['name'])}, the path {excerpt(name)}"
            )
    try:
        body = _CREATE.validate_python(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    return body.to_spec()


def parse_patch(data: Any) -> dict[str, Any]:
    """Return the changes a patch body asks for, under ScheduleSpec's names."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        body = _PATCH.validate_python(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    return body.to_changes()


def body_of(model: type[BaseModel]) -> dict[str, Any]:
    """Return the openapi_extra that documents a route's body as this model (inline)."""
    schema = model.model_json_schema()
    return {"requestBody": {"required": True, "content": {"application/json": {"schema": schema}}}}
