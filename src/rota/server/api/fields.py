"""Time and span fields of request bodies: pydantic types over rota.moments' one range.

A value out of range is refused with the field's name, e.g.
"run_at: must be between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z".
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BeforeValidator,
    Field,
    StrictFloat,
    ValidationInfo,
)

from rota.moments import MAX_SPAN_S, MAX_TIMEOUT_S, moment_problem, span_problem

__all__ = ["BackoffBaseSeconds", "Moment", "PositiveSeconds", "Seconds", "TimeoutSeconds"]

MAX_BACKOFF_BASE_S = 86400.0


def _moment_text(value: Any, info: ValidationInfo) -> Any:
    # pydantic would read a number (or a string of digits) as seconds since the epoch; the
    # API documents a moment as ISO 8601 text, and a number is more often a mistaken span.
    if isinstance(value, datetime):
        return value
    if not isinstance(value, str):
        raise ValueError("give ISO 8601 text with an offset, e.g. 2030-01-01T00:00:00Z")
    if value.strip().lstrip("+-").replace(".", "", 1).isdigit():
        # Only a job's run_at has a span beside it (delay) to point to.
        hint = "; for seconds from now, use delay" if info.field_name == "run_at" else ""
        raise ValueError(
            "give ISO 8601 text with an offset, e.g. 2030-01-01T00:00:00Z (a number is not "
            f"a moment{hint})"
        )
    return value


def _moment(value: datetime) -> datetime:
    problem = moment_problem(value)
    if problem is not None:
        raise ValueError(problem)
    return value.astimezone(UTC)


def _span(*, positive: bool = False, max_s: float = MAX_SPAN_S) -> Callable[[float], float]:
    def check(value: float) -> float:
        problem = span_problem(value, positive=positive, max_s=max_s)
        if problem is not None:
            raise ValueError(problem)
        return value

    return check


def _schema(*, positive: bool = False, max_s: float = MAX_SPAN_S) -> Any:
    low = {"exclusiveMinimum": 0} if positive else {"minimum": 0}
    return Field(json_schema_extra={**low, "maximum": max_s})


Moment = Annotated[
    AwareDatetime,
    BeforeValidator(_moment_text),
    AfterValidator(_moment),
    Field(description="ISO 8601 with an offset, 1970-01-01T00:00:00Z to 9000-01-01T00:00:00Z"),
]
"""An aware moment within rota.moments' range, converted to UTC; only ISO 8601 text (or a
datetime) is read as one."""
Seconds = Annotated[StrictFloat, AfterValidator(_span()), _schema()]
"""Seconds from 0 to ten years."""
PositiveSeconds = Annotated[
    StrictFloat, AfterValidator(_span(positive=True)), _schema(positive=True)
]
"""Seconds above 0, up to ten years."""
TimeoutSeconds = Annotated[
    StrictFloat,
    AfterValidator(_span(positive=True, max_s=MAX_TIMEOUT_S)),
    _schema(positive=True, max_s=MAX_TIMEOUT_S),
]
"""How long one attempt may run: above 0, up to a year."""
BackoffBaseSeconds = Annotated[
    StrictFloat,
    AfterValidator(_span(max_s=MAX_BACKOFF_BASE_S)),
    _schema(max_s=MAX_BACKOFF_BASE_S),
]
"""The first backoff delay: 0 to a day."""
