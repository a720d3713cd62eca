"""The parts of a request's URL that come from the caller: ids and names in the path, and
query parameters, checked and encoded in one place before anything is sent.

An id or a name is always exactly one segment of the path: it is percent-encoded whole
(`?`, `#`, `%` and spaces included), a segment of only dots is encoded too (or the URL
would be normalised to its parent), and one holding '/' is refused, as no id or name
contains it. Without this, `rota jobs cancel ../schedules/nightly` sent DELETE
/api/v1/schedules/nightly. Text that no URL can carry (a lone surrogate, as a file name's
non-UTF-8 byte gives on the command line, or a NUL) is refused naming the parameter.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rota.errors import InvalidInput
from rota.safe_text import excerpt
from rota.values import text_problem


def segment(value: str, what: str) -> str:
    """Return an id or a name as one percent-encoded segment of a URL path.

    `what` names it in messages ("job id", "schedule", "worker name"). InvalidInput when
    it is not text, is empty, holds text no URL can carry, or holds '/'.
    """
    if not isinstance(value, str):
        raise InvalidInput(f"{what}: must be a string, not {type(value).__name__}")
    problem = text_problem(value)
    if problem is not None:
        raise InvalidInput(f"{what}: {problem}")
    if not value:
        raise InvalidInput(f"{what}: must not be empty")
    if "/" in value:
        raise InvalidInput(f"{what} {excerpt(value)}: an id or a name never contains '/'")
    if not value.strip("."):  # "." and "..": the URL would be read as a directory
        return "%2E" * len(value)
    return quote(value, safe="")


def check_params(params: Mapping[str, Any] | None) -> None:
    """Raise InvalidInput naming the first query parameter whose text no URL can carry."""
    for name, value in (params or {}).items():
        if isinstance(value, str):
            problem = text_problem(value)
            if problem is not None:
                raise InvalidInput(f"{name}: {problem}")
