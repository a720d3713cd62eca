"""The one place where errors become HTTP responses, and where /openapi.json learns them.

Every error body has the same shape: {"error": {"type": "<ClassName>", "message": "..."}},
which ErrorBody declares for /openapi.json. `error_responses` documents the statuses one
route may answer with it; `document_errors` those every route may answer.
"""

from __future__ import annotations

import http
import logging
import re
from typing import Any

from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field
from starlette.exceptions import HTTPException
from starlette.requests import ClientDisconnect
from starlette.routing import compile_path
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rota.errors import RotaError
from rota.safe_text import excerpt
from rota.validation_text import describe_validation_errors

logger = logging.getLogger("rota.server")


class ErrorDetail(BaseModel):
    """What went wrong: the error's kind and a sentence for people."""

    model_config = ConfigDict(extra="forbid")

    type: str = Field(description="the error's class, e.g. JobNotFound or InvalidInput")
    message: str = Field(description="what was refused and why, in one sentence")


class ErrorBody(BaseModel):
    """Every error answer: {"error": {"type": ..., "message": ...}}."""

    model_config = ConfigDict(extra="forbid")

    error: ErrorDetail


ERROR_STATUSES: dict[int, str] = {
    400: "the body is not JSON (or not UTF-8, or empty), the Content-Length header is "
    "unreadable, or the Host header names a host not in `server.allowed_hosts`",
    401: "not authenticated: the guard, which runs before any route, found no bearer token "
    "(nor session cookie), or one that is unknown or revoked",
    403: "not allowed: the guard, which runs before any route, found that the token's role "
    "may not make this request; or a web page of another origin (the Origin header) tried "
    "to change something",
    404: "no such job, worker, device or schedule",
    408: "the request's headers or body came too slowly (`server.header_timeout_s`, "
    "`server.body_timeout_s`); the connection is closed",
    409: "the state of what it names does not allow it (or a concurrent change, or an "
    "idempotency key or name already taken)",
    413: "the request body is larger than `server.max_body_bytes`",
    415: "the request has a body that is not `application/json` (a calendar import also "
    "reads `text/calendar`)",
    422: "a parameter or the body is not valid; the message names it",
    500: "the server failed; its log says why",
    503: "the server is stopping (its store is closed), or this client address holds "
    "`server.max_connections_per_client` connections already",
}
"""What each error status means, for any route that answers it."""

COMMON_ERRORS: tuple[int, ...] = (400, 408, 413, 415, 422, 500, 503)
"""The statuses every route may answer, whatever it does: an unreadable Content-Length or
a Host not allowed, a request too slow, a body too large or not JSON (refused before
routing), a path or query the route refuses, a failure, a store closed while the server
stops or too many connections from one address."""

AUTH_ERRORS: tuple[int, ...] = (401, 403)
"""The refusals of the auth check (rota.server.guard), which every route goes through but
those open to anyone (an operation whose OpenAPI entry says `security: []`, as
rota.server.openapi marks the routes rota.auth.access opens: the health probes, the
dashboard's session)."""

ERROR_BODY_REF = "#/components/schemas/ErrorBody"


def error_responses(*statuses: int) -> dict[int | str, dict[str, Any]]:
    """Return a route's `responses=` for these error statuses, each with ErrorBody."""
    return {
        status: {"model": ErrorBody, "description": ERROR_STATUSES.get(status, "refused")}
        for status in statuses
    }


def error_schemas() -> dict[str, Any]:
    """Return the OpenAPI components of the error body (ErrorBody and ErrorDetail)."""
    schema = ErrorBody.model_json_schema(ref_template="#/components/schemas/{model}")
    return {**schema.pop("$defs", {}), "ErrorBody": schema}


def document_errors(operation: dict[str, Any]) -> None:
    """Add to one operation of an OpenAPI document the error statuses every route may
    answer (COMMON_ERRORS, and AUTH_ERRORS unless it is open to anyone), each with the
    error body; a status the route documents itself keeps its own entry. Responses end up
    sorted by status.

    This is the one place where what every route shares is documented: a refusal added in
    front of the routes (a middleware, the auth check) is documented for all by one edit of
    COMMON_ERRORS or AUTH_ERRORS.
    """
    statuses = COMMON_ERRORS if operation.get("security") == [] else COMMON_ERRORS + AUTH_ERRORS
    responses: dict[str, Any] = operation.setdefault("responses", {})
    for status in statuses:
        responses.setdefault(
            str(status),
            {
                "description": ERROR_STATUSES[status],
                "content": {"application/json": {"schema": {"$ref": ERROR_BODY_REF}}},
            },
        )
    operation["responses"] = dict(sorted(responses.items()))


def error_response(status_code: int, kind: str, message: str) -> JSONResponse:
    """Return the standard error body (ErrorBody, built as plain data) with that status."""
    return JSONResponse(
        {"error": {"type": kind, "message": message}},
        status_code=status_code,
    )


def _http_error_type(exc: HTTPException) -> str:
    if type(exc) is not HTTPException:
        return type(exc).__name__
    try:
        phrase = http.HTTPStatus(exc.status_code).phrase
    except ValueError:
        return "HTTPError"
    return "".join(word.capitalize() for word in phrase.replace("-", " ").split())


def rota_error_response(method: str, path: str, exc: RotaError) -> JSONResponse:
    """Return the answer to a RotaError (a 5xx is logged: the server could not do it)."""
    if exc.status_code >= 500:
        logger.error("%s %s failed: %s", method, excerpt(path), exc.message)
    return error_response(exc.status_code, type(exc).__name__, exc.message)


async def _handle(request: Request, exc: Exception) -> JSONResponse:
    if isinstance(exc, RotaError):
        return rota_error_response(request.method, request.url.path, exc)
    if isinstance(exc, RequestValidationError):
        return error_response(422, "InvalidInput", describe_validation_errors(exc.errors()))
    if isinstance(exc, HTTPException):
        message = exc.detail if isinstance(exc.detail, str) else str(exc.detail)
        response = error_response(exc.status_code, _http_error_type(exc), message)
        if exc.headers:
            response.headers.update(exc.headers)
        if exc.status_code == 405:
            allowed = _documented_methods(request)
            if allowed:
                response.headers["allow"] = ", ".join(allowed)
        return response
    return internal_error(request.method, request.url.path, exc)


def _documented_methods(request: Request) -> list[str]:
    """Return the methods /openapi.json documents for the request's path (empty when it
    documents none): a 405's Allow header names them all, where the router names only
    those of the first route it tried. A path that a literal template and a parametrized
    one both match (/jobs/retry, /jobs/{job_id}) is the literal one's, as in OpenAPI."""
    index: list[tuple[int, re.Pattern[str], list[str]]] | None = getattr(
        request.app.state, "documented_methods", None
    )
    if index is None:
        paths = request.app.openapi().get("paths", {})
        index = [
            (path.count("{"), compile_path(path)[0], [method.upper() for method in operations])
            for path, operations in paths.items()
        ]
        request.app.state.documented_methods = index
    path = request.url.path
    matches = [(params, methods) for params, pattern, methods in index if pattern.match(path)]
    fewest = min((params for params, _ in matches), default=0)
    return sorted({method for params, methods in matches if params == fewest for method in methods})


def internal_error(method: str, path: str, exc: BaseException) -> JSONResponse:
    # A 500 is our bug: its traceback is logged once, here, at ERROR.
    # The path is quoted: a "\n" in it cannot start a forged line of the log.
    logger.error("unexpected error in %s %s", method, excerpt(path), exc_info=exc)
    return error_response(500, "InternalError", "the server failed; its log says why")


class LastResortMiddleware:
    """Answer what no handler did, so the connection stays usable and the log stays quiet.

    Starlette's own last resort answers 500 and then raises again, which makes the server
    close the keep-alive connection (the client's next request on it is reset) and log the
    traceback a second time. Here an unexpected error is answered with the standard 500 body
    and not raised again. A client that goes away while its request body is read
    (ClientDisconnect) is the client's business: it is logged at DEBUG and left unanswered.
    """

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        started = False

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, receive, watched_send)
        except ClientDisconnect:
            logger.debug("%s %s: the client went away", scope["method"], scope["path"])
        except Exception as exc:
            if started:
                raise  # half a response is out: only closing the connection can end it
            response = internal_error(scope["method"], scope["path"], exc)
            await response(scope, receive, send)


def install_error_handlers(app: FastAPI) -> None:
    """Make every error the app raises answer with the standard error body.

    Call it after adding every other middleware: its last resort must wrap them all.
    """
    for kind in (RotaError, RequestValidationError, HTTPException):
        app.add_exception_handler(kind, _handle)
    app.add_middleware(LastResortMiddleware)
