"""Request bodies of the REST API: strict pydantic models, converted to Rota's values."""

from __future__ import annotations

import contextlib
import json
import math
from datetime import datetime
from typing import Annotated, Any, Final, Protocol

import orjson
from pydantic import (
    AfterValidator,
    BaseModel,
    ConfigDict,
    Field,
    StrictFloat,
    StrictInt,
    StrictStr,
    StringConstraints,
    TypeAdapter,
    ValidationError,
    WithJsonSchema,
    field_validator,
    model_validator,
)

from rota.errors import InvalidInput, MalformedBody, RotaError
from rota.jobs import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE, QUEUE_PATTERN, JobSpec
from rota.json_numbers import has_long_number
from rota.moments import after
from rota.retry import DEFAULT_BACKOFF, Backoff
from rota.server.api.fields import BackoffBaseSeconds, Moment, Seconds, TimeoutSeconds
from rota.server.api.json_values import JsonList, JsonObject
from rota.store.base import JobChanges
from rota.tasks import validate_task_name
from rota.tasks.registry import MAX_TASK_NAME, TASK_NAME_PATTERN
from rota.validation_text import describe_validation_errors
from rota.values import MAX_DEPTH, check_arguments, text_problem

QueueName = Annotated[StrictStr, StringConstraints(pattern=QUEUE_PATTERN)]
TaskName = Annotated[
    StrictStr,
    WithJsonSchema({"type": "string", "pattern": TASK_NAME_PATTERN, "maxLength": MAX_TASK_NAME}),
]
"""A task's name as /openapi.json states it; validate_task_name checks it (its message
names the field and the rule)."""


def _storable(value: str) -> str:
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value


Priority = Annotated[StrictInt, Field(ge=-1000, le=1000)]
ShortText = Annotated[
    StrictStr, StringConstraints(min_length=1, max_length=200), AfterValidator(_storable)
]


class BackoffBody(BaseModel):
    """How long to wait between attempts: min(max_s, base_s * factor ** (n - 1)), jittered."""

    model_config = ConfigDict(extra="forbid", title="Backoff")

    base_s: BackoffBaseSeconds = DEFAULT_BACKOFF.base_s
    factor: StrictFloat = Field(DEFAULT_BACKOFF.factor, ge=1, le=100)
    max_s: Seconds = DEFAULT_BACKOFF.max_s
    jitter: StrictFloat = Field(DEFAULT_BACKOFF.jitter, ge=0, le=1)

    def to_backoff(self) -> Backoff:
        """Return the backoff policy this body describes."""
        return Backoff(base_s=self.base_s, factor=self.factor, max_s=self.max_s, jitter=self.jitter)


class JobSubmit(BaseModel):
    """A job to submit."""

    model_config = ConfigDict(extra="forbid", title="JobSubmit")

    task: TaskName = Field(description="the registered task name, e.g. 'app.add'")
    args: JsonList = Field(default_factory=list)
    kwargs: JsonObject = Field(default_factory=dict)
    queue: QueueName = DEFAULT_QUEUE
    priority: Priority = Field(0, description="higher runs first")
    run_at: Moment | None = None
    delay: Seconds | None = Field(None, description="seconds from now; not with run_at")
    max_attempts: StrictInt = Field(DEFAULT_MAX_ATTEMPTS, ge=1, le=1000)
    timeout: TimeoutSeconds | None = Field(None, description="seconds")
    deadline: Moment | None = Field(None, description="expire unless started by then")
    idempotency_key: ShortText | None = None
    target: ShortText | None = Field(None, description="a worker name or tag")
    backoff: BackoffBody | None = None

    @field_validator("task")
    @classmethod
    def _task_name(cls, value: str) -> str:
        return validate_task_name(value)

    @model_validator(mode="after")
    def _one_start_time(self) -> JobSubmit:
        if self.run_at is not None and self.delay is not None:
            raise ValueError("run_at and delay: give one of them, not both")
        return self

    def to_spec(self, now: datetime | None) -> JobSpec:
        """Return the job spec, with a delay turned into run_at from `now` (the store's
        clock; it may be None when the job has no delay, else ValueError)."""
        return self.spec_with(self.args, self.kwargs, self.idempotency_key, now)

    def spec_with(
        self, args: list[Any], kwargs: dict[str, Any], key: str | None, now: datetime | None
    ) -> JobSpec:
        """Return to_spec(now) with these args, kwargs and idempotency key instead."""
        return JobSpec(
            task=self.task,
            args=args,
            kwargs=kwargs,
            queue=self.queue,
            priority=self.priority,
            run_at=_start_time(self.run_at, self.delay, now),
            target=self.target,
            max_attempts=self.max_attempts,
            backoff=self.backoff.to_backoff() if self.backoff else DEFAULT_BACKOFF,
            timeout_s=self.timeout,
            deadline_at=self.deadline,
            idempotency_key=key,
        )


class JobPatch(BaseModel):
    """Changes to a pending job; fields left out stay as they are."""

    model_config = ConfigDict(extra="forbid", title="JobPatch")

    run_at: Moment | None = None
    delay: Seconds | None = None
    priority: Priority | None = None
    args: JsonList | None = None
    kwargs: JsonObject | None = None

    @model_validator(mode="after")
    def _something_to_change(self) -> JobPatch:
        if self.run_at is not None and self.delay is not None:
            raise ValueError("run_at and delay: give one of them, not both")
        if all(getattr(self, name) is None for name in type(self).model_fields):
            raise ValueError("nothing to change: give run_at, delay, priority, args or kwargs")
        return self

    def to_changes(self, now: datetime) -> JobChanges:
        """Return the store's change set, with a delay turned into run_at from `now`."""
        return JobChanges(
            run_at=_start_time(self.run_at, self.delay, now),
            priority=self.priority,
            args=self.args,
            kwargs=self.kwargs,
        )


def _start_time(
    run_at: datetime | None, delay_s: float | None, now: datetime | None
) -> datetime | None:
    if run_at is not None:
        return run_at  # in UTC already: Moment converts it
    if delay_s is not None:
        if now is None:
            raise ValueError("a delay needs the current time to count from")
        return after(now, delay_s)
    return None


_SUBMIT_ONE = TypeAdapter(JobSubmit)
_SUBMIT_MANY = TypeAdapter(list[JobSubmit])
_PATCH = TypeAdapter(JobPatch)


_MAX_INT_DIGITS: Final = 4300


def parse_json(body: bytes) -> Any:
    """Return the JSON a request body holds, or raise InvalidInput saying what is wrong."""
    if not body.strip():
        raise MalformedBody("the request body is empty; send a JSON object")
    try:
        return json.loads(
            body,
            parse_constant=_refuse_constant,
            parse_float=_finite_float,
            parse_int=_readable_int,
        )
    except RecursionError:
        raise MalformedBody(
            f"the request body is nested too deeply; a value may be nested {MAX_DEPTH} levels"
        ) from None
    except UnicodeDecodeError:
        raise MalformedBody("the request body is not UTF-8 text") from None
    except ValueError as exc:  # JSONDecodeError, and our refusals of NaN and infinities
        raise MalformedBody(f"the request body is not valid JSON: {exc}") from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _readable_int(text: str) -> int:
    # Python reads at most 4300 digits (sys.get_int_max_str_digits); say so in plain words.
    digits = len(text.lstrip("-"))
    if digits > _MAX_INT_DIGITS:
        raise ValueError(
            f"an integer of {digits} digits is too long to read (integers must lie within "
            "+-(2**53 - 1); send a longer number as a string)"
        )
    return int(text)


def _finite_float(text: str) -> float:
    value = float(text)
    if not math.isfinite(value):
        raise ValueError(f"{text} is out of range for a number")
    return value


def parse_submissions(data: Any, *, max_bulk: int) -> tuple[list[JobSubmit], bool]:
    """Return the submitted jobs and whether the body was a list (a bulk submission).

    Raises InvalidInput naming the field at fault; InvalidValue when arguments break the
    rules of rota.values. Any bad item refuses the whole body.
    """
    if isinstance(data, list):
        if not data:
            raise InvalidInput("the list of jobs is empty")
        if len(data) > max_bulk:
            raise InvalidInput(f"a bulk submission holds at most {max_bulk} jobs, not {len(data)}")
        try:
            jobs = _SUBMIT_MANY.validate_python(data)
        except ValidationError as exc:
            raise InvalidInput(describe_validation_errors(exc.errors(), prefix="jobs")) from None
        for index, job in enumerate(jobs):
            job.args, job.kwargs = check_arguments(job.args, job.kwargs, where=f"jobs[{index}].")
        return jobs, True
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a job object or a list of job objects")
    try:
        job = _SUBMIT_ONE.validate_python(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    job.args, job.kwargs = check_arguments(job.args, job.kwargs)
    return [job], False


class Submitted(Protocol):
    """A submitted job, checked: a JobSubmit, or a bulk item that repeats another's options."""

    @property
    def delay(self) -> float | None: ...
    @property
    def idempotency_key(self) -> str | None: ...
    def to_spec(self, now: datetime | None) -> JobSpec: ...


class _Repeat:
    """A bulk item whose options (every field but args, kwargs and idempotency_key) are
    those of an item already validated, `model`: only its own three fields are checked."""

    __slots__ = ("args", "idempotency_key", "kwargs", "model")

    def __init__(
        self, model: JobSubmit, args: list[Any], kwargs: dict[str, Any], key: str | None
    ) -> None:
        self.model = model
        self.args = args
        self.kwargs = kwargs
        self.idempotency_key = key

    @property
    def delay(self) -> float | None:
        """The delay of the job, in seconds (None: run_at or now)."""
        return self.model.delay

    def to_spec(self, now: datetime | None) -> JobSpec:
        """Return the job spec, as JobSubmit.to_spec makes it (the model's, with this
        item's args, kwargs and key)."""
        return self.model.spec_with(self.args, self.kwargs, self.idempotency_key, now)


_OWN_FIELDS: Final = frozenset({"args", "kwargs", "idempotency_key"})
_REPEATABLE: Final = frozenset({str, int, bool, type(None)})
"""Types of option values whose validation a later item may reuse: equal values of one
of these types validate alike (floats are left out: 0.0 and -0.0 are equal)."""


class _NotPlain(Exception):
    """A bulk item the repeat path does not judge: the whole list is validated as ever."""


def _parse_repeats(data: list[Any], *, max_bulk: int) -> tuple[list[Submitted], bool]:
    """Return what parse_submissions returns for a list, validating each distinct set of
    options once: an item whose options (type and value of each field but its own three)
    were validated for an earlier item has only its args, kwargs and key checked, as the
    model checks them. Raises _NotPlain (or any refusal) for the caller to judge the list
    as parse_submissions does, so refusals are worded as they always were."""
    if not data or len(data) > max_bulk:
        raise _NotPlain()
    known: dict[tuple[Any, ...], JobSubmit] = {}
    items: list[Submitted] = []
    for index, item in enumerate(data):
        if type(item) is not dict:
            raise _NotPlain()
        options = tuple(
            [(name, type(value), value) for name, value in item.items() if name not in _OWN_FIELDS]
        )
        try:
            model = known.get(options)
        except TypeError:  # a list or an object among the options: not hashable
            raise _NotPlain() from None
        if model is None:
            # Types are part of the key: options found in `known` passed this check already.
            if not all(kind in _REPEATABLE for _, kind, _ in options):
                raise _NotPlain()
            model = known[options] = _SUBMIT_ONE.validate_python(item)
            model.args, model.kwargs = check_arguments(
                model.args, model.kwargs, where=f"jobs[{index}]."
            )
            items.append(model)
            continue
        args = item.get("args", [])
        kwargs = item.get("kwargs", {})
        key = item.get("idempotency_key")
        if type(args) is not list or type(kwargs) is not dict or not _own_key(key):
            raise _NotPlain()
        args, kwargs = check_arguments(args, kwargs, where=f"jobs[{index}].")
        items.append(_Repeat(model, args, kwargs, key))
    return items, True


def _own_key(key: object) -> bool:
    """Tell whether an idempotency key passes ShortText as the model checks it."""
    if key is None:
        return True
    return type(key) is str and 1 <= len(key) <= 200 and text_problem(key) is None


def parse_submission_body(body: bytes, *, max_bulk: int) -> tuple[list[Submitted], bool]:
    """Return parse_submissions(parse_json(body)), read with orjson (in C, several times
    faster than json on a bulk body) when that gives the same jobs.

    orjson reads what json reads, as the same values, with three exceptions, each sent down
    json's path: what orjson refuses (NaN, infinities, lone surrogates, a BOM, nesting past
    1,024 levels, UTF-16 text json detects), integers beyond 64 bits (see has_long_number),
    and nesting json gives up on (about 1,000 levels) that orjson reads. The last is refused
    in any case (arguments nest at most MAX_DEPTH levels, every other field is flat), so
    any refusal is made again on json's path: errors are worded exactly as they always were.

    A list's items are validated by _parse_repeats: each distinct set of options once.
    """
    if not has_long_number(body):
        try:
            data = orjson.loads(body)
        except orjson.JSONDecodeError:
            pass
        else:
            try:
                if type(data) is list:
                    with contextlib.suppress(_NotPlain):
                        return _parse_repeats(data, max_bulk=max_bulk)
                jobs, bulk = parse_submissions(data, max_bulk=max_bulk)
                return list(jobs), bulk
            except (RotaError, ValidationError):
                pass  # json's path below judges it, and names a problem as it always has
    jobs, bulk = parse_submissions(parse_json(body), max_bulk=max_bulk)
    return list(jobs), bulk


def parse_patch(data: Any) -> JobPatch:
    """Return the validated changes to a job (InvalidValue for arguments rota.values refuses)."""
    if not isinstance(data, dict):
        raise InvalidInput("the body must be a JSON object")
    try:
        patch = _PATCH.validate_python(data)
    except ValidationError as exc:
        raise InvalidInput(describe_validation_errors(exc.errors())) from None
    if patch.args is not None or patch.kwargs is not None:
        args, kwargs = check_arguments(
            [] if patch.args is None else patch.args, {} if patch.kwargs is None else patch.kwargs
        )
        if patch.args is not None:
            patch.args = args
        if patch.kwargs is not None:
            patch.kwargs = kwargs
    return patch


def openapi_components() -> dict[str, Any]:
    """Return the JSON schemas of the request bodies, for the OpenAPI document."""
    schemas: dict[str, Any] = {}
    for model in (JobSubmit, JobPatch):
        schema = model.model_json_schema(ref_template="#/components/schemas/{model}")
        schemas.update(schema.pop("$defs", {}))
        schemas[model.__name__] = schema
    return schemas


SUBMIT_BODY = {
    "parameters": [
        {
            "name": "Prefer",
            "in": "header",
            "required": False,
            "schema": {"type": "string"},
            "description": (
                "`return=minimal` answers each job as its id and state only (the answer "
                "then says `Preference-Applied: return=minimal`); by default, or with "
                "`return=representation`, each job is answered whole; other preferences "
                "are ignored (RFC 7240)"
            ),
        }
    ],
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {
                "schema": {
                    "oneOf": [
                        {"$ref": "#/components/schemas/JobSubmit"},
                        {"type": "array", "items": {"$ref": "#/components/schemas/JobSubmit"}},
                    ]
                }
            }
        },
    },
}
PATCH_BODY = {
    "requestBody": {
        "required": True,
        "content": {"application/json": {"schema": {"$ref": "#/components/schemas/JobPatch"}}},
    }
}
