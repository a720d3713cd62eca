"""One sentence for pydantic's validation errors: what the server answers a request it
cannot read, and what `rota remind` prints, worded alike. No web framework is loaded here, so
that a command line can use it and start fast."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from rota.safe_text import EXCERPT_CHARS, excerpt

MAX_REPORTED_PROBLEMS = 5
# Where pydantic says a value sits; the first part only repeats what the route already says.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def describe_validation_errors(errors: Sequence[Mapping[str, Any]], *, prefix: str = "") -> str:
    """Return one sentence naming each field that failed validation and why."""
    parts = []
    for error in errors[:MAX_REPORTED_PROBLEMS]:
        location = list(error.get("loc", ()))
        if location and location[0] in _SOURCES:
            location = location[1:]
        path = prefix + _format_location(location)
        reason = _reason(error)
        parts.append(f"{path}: {reason}" if path else reason)
    text = "; ".join(parts) or "the request is not valid"
    if len(errors) > MAX_REPORTED_PROBLEMS:
        text += f" (and {len(errors) - MAX_REPORTED_PROBLEMS} more problems)"
    return text


def _format_location(location: Sequence[Any]) -> str:
    text = ""
    for part in location:
        if isinstance(part, int):
            text += f"[{part}]"
            continue
        name = str(part)
        if len(name) > EXCERPT_CHARS:  # a field name the client made up: quote it short
            name = excerpt(name)
        text += f".{name}" if text else name
    return text


_NOT_A_MOMENT = frozenset({"datetime_parsing", "datetime_from_date_parsing", "datetime_type"})
"""pydantic's kinds of error for text that is not a moment (a Moment field's)."""


def _reason(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind in _NOT_A_MOMENT:
        return f"{excerpt(error.get('input'))} is not ISO 8601, e.g. 2030-01-01T00:00:00Z"
    if kind == "timezone_aware":
        return "give a timezone offset, e.g. 2030-01-01T00:00:00Z"
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON ({detail})" if detail else "the body is not valid JSON"
    message = str(error.get("msg", "invalid value"))
    # Our own validators raise ValueError; pydantic prefixes their message with this.
    return message.removeprefix("Value error, ")
