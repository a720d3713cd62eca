"""The one place where errors become HTTP responses.

Every error body has the same shape: {"error": {"type": "<ClassName>", "message": "..."}}.
"""

from __future__ import annotations

import http
import logging
from collections.abc import Mapping, Sequence
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from starlette.exceptions import HTTPException

from rota.errors import RotaError

logger = logging.getLogger("rota.server")

MAX_REPORTED_PROBLEMS = 5
# Where pydantic says a value sits; the first part only repeats what the route already says.
_SOURCES = frozenset({"body", "query", "path", "header", "cookie"})


def error_response(status_code: int, kind: str, message: str) -> JSONResponse:
    """Return the standard error body with that status."""
    return JSONResponse(
        {"error": {"type": kind, "message": message}},
        status_code=status_code,
    )


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
        else:
            text += f".{part}" if text else str(part)
    return text


def _reason(error: Mapping[str, Any]) -> str:
    kind = error.get("type")
    if kind == "extra_forbidden":
        return "unknown field"
    if kind == "missing":
        return "field required"
    if kind == "json_invalid":
        detail = (error.get("ctx") or {}).get("error", "")
        return f"the body is not valid JSON ({detail})" if detail else "the body is not valid JSON"
    message = str(error.get("msg", "invalid value"))
    # Our own validators raise ValueError; pydantic prefixes their message with this.
    return message.removeprefix("Value error, ")


def _http_error_type(exc: HTTPException) -> str:
    if type(exc) is not HTTPException:
        return type(exc).__name__
    try:
        phrase = http.HTTPStatus(exc.status_code).phrase
    except ValueError:
        return "HTTPError"
    return "".join(word.capitalize() for word in phrase.replace("-", " ").split())


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RotaError):
        if exc.status_code >= 500:
            logger.error("%s %s failed: %s", request.method, request.url.path, exc.message)
        return error_response(exc.status_code, type(exc).__name__, exc.message)
    if isinstance(exc, RequestValidationError):
        return error_response(422, "InvalidInput", describe_validation_errors(exc.errors()))
    if isinstance(exc, HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = error_response(exc.status_code, _http_error_type(exc), message)
        if exc.headers:
            response.headers.update(exc.headers)
        return response
    logger.error("unexpected error in %s %s", request.method, request.url.path, exc_info=exc)
    return error_response(500, "InternalError", "the server failed; its log says why")


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app raises answer with the standard error body."""
    for kind in (RotaError, RequestValidationError, HTTPException, Exception):
        app.add_exception_handler(kind, _handle)
