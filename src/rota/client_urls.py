"""The parts of a request's URL that come from the caller: ids and names in the path, and
query parameters, checked and encoded in one place before anything is sent.

An id or a name is always exactly one segment of the path: it is percent-encoded whole
(`?`, `#`, `%` and spaces included), a segment of only dots is encoded too (or the URL
would be normalised to its parent), and one holding '/' is refused, as no id or name
contains it. Without this, `rota jobs cancel ../schedules/nightly` sent DELETE
/api/v1/schedules/nightly. Text that no URL can carry (a lone surrogate, as a file name's
non-UTF-8 byte gives on the command line, or a NUL) is refused naming the parameter.

Also where a client given no URL, token or CA finds them (server_from, token_from,
ca_from); nothing here loads the HTTP client, so an app that only defines tasks stays light.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote

from rota.errors import InvalidInput
from rota.safe_text import excerpt
from rota.values import text_problem

DEFAULT_URL = "http://127.0.0.1:8077"
SERVER_VARIABLE = "ROTA_SERVER"
TOKEN_VARIABLE = "ROTA_TOKEN"
CA_VARIABLE = "ROTA_CA"


def server_from(environ: Mapping[str, str] | None = None) -> str:
    """Return the server a client given no URL talks to: the first URL of $ROTA_SERVER (a
    comma list, as workers take it; one without a scheme, localhost:8077, is http://), else
    DEFAULT_URL. As the CLI finds it."""
    listed = (os.environ if environ is None else environ).get(SERVER_VARIABLE, "")
    urls = [part.strip() for part in listed.split(",") if part.strip()]
    return with_scheme(urls[0]) if urls else DEFAULT_URL


def with_scheme(url: str) -> str:
    """Return a server URL with http:// in front when it names no scheme (localhost:8077):
    how the CLI, the Python client and workers all read a server's URL."""
    text = url.strip()
    return text if "://" in text else f"http://{text}"


def token_from(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the token a client given none sends: $ROTA_TOKEN, or None when unset or empty."""
    return (os.environ if environ is None else environ).get(TOKEN_VARIABLE) or None


def ca_from(environ: Mapping[str, str] | None = None) -> str | None:
    """Return the CA file a client given none trusts: $ROTA_CA, or None (the system's)."""
    return (os.environ if environ is None else environ).get(CA_VARIABLE) or None


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
