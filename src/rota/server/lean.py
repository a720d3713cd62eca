"""The lean path of the hottest route: POST /api/v1/jobs, answered before the ASGI stack.

Through FastAPI a submission crosses about a dozen layers (uvicorn's proxy headers,
FastAPI's and Starlette's error, telemetry and body-limit middleware, ours, routing,
dependency solving, and the encoding of the answer by jsonable_encoder): about a third of
the server's CPU per single submit. Here the request is read and answered in one function
that keeps every promise of those layers for this route:

- a path or query holding text no store can look up: 422, as UrlTextMiddleware answers;
- a body over `server.max_body_bytes` (declared or received): 413, an unreadable
  Content-Length: 400, as BodyLimitMiddleware answers;
- the body becomes jobs in `rota.server.api.jobs.submitted`, the route's own function:
  the same parsing, pydantic model, value checks, service call and answer;
- a RotaError is answered as the app's handlers answer it, anything else as a logged 500
  (LastResortMiddleware), a client gone while its body is read is left unanswered.

A check that every request must pass (authentication, one day) goes here as well as in the
middleware stack: `tests/server/test_lean_submit.py` holds the two paths to the same answers.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterable
from typing import Any

import orjson
from starlette.types import Receive, Scope, Send

from rota.errors import RotaError
from rota.server.api import API_PREFIX
from rota.server.api.jobs import MINIMAL, PREFERENCE_APPLIED, prefers_minimal, submitted
from rota.server.errors import error_response, internal_error, rota_error_response
from rota.server.limits import BodyTooLarge, declared_length
from rota.server.state import Hub
from rota.server.url_text import url_problem

logger = logging.getLogger("rota.server")

SUBMIT_PATH = API_PREFIX + "/jobs"


class _Disconnected(Exception):
    """The client went away while its body was read."""


def is_lean(scope: Scope) -> bool:
    """Tell whether a request is one the lean path answers: POST /api/v1/jobs over HTTP."""
    lean: bool = (
        scope["type"] == "http" and scope["path"] == SUBMIT_PATH and scope["method"] == "POST"
    )
    return lean


async def lean_submit(hub: Hub, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer POST /api/v1/jobs as the full stack would (see the module's docstring)."""
    problem = url_problem(scope["path"], scope.get("query_string", b""))
    if problem is not None:
        await error_response(422, "InvalidInput", problem)(scope, receive, send)
        return
    limit = hub.settings.server.max_body_bytes
    declared = declared_length(scope)
    if declared == -1:
        response = error_response(400, "InvalidInput", "the Content-Length header is invalid")
        await response(scope, receive, send)
        return
    try:
        if declared is not None and declared > limit:
            raise BodyTooLarge(limit)
        body = await _read_body(receive, limit)
        prefer = [value.decode("latin-1") for name, value in scope["headers"] if name == b"prefer"]
        minimal = bool(prefer) and prefers_minimal(prefer)
        answer = await submitted(hub, body, minimal=minimal)
    except _Disconnected:
        logger.debug("%s %s: the client went away", scope["method"], scope["path"])
        return
    except BodyTooLarge as exc:
        await error_response(413, type(exc).__name__, exc.detail)(scope, receive, send)
        return
    except RotaError as exc:
        response = rota_error_response(scope["method"], scope["path"], exc)
        await response(scope, receive, send)
        return
    except Exception as exc:
        await internal_error(scope["method"], scope["path"], exc)(scope, receive, send)
        return
    await _send_json(send, 201, answer, _MINIMAL_HEADERS if minimal else ())


async def _read_body(receive: Receive, limit: int) -> bytes:
    chunks: list[bytes] = []
    received = 0
    while True:
        message = await receive()
        if message["type"] == "http.disconnect":
            raise _Disconnected()
        chunk = message.get("body", b"")
        received += len(chunk)
        if received > limit:
            raise BodyTooLarge(limit)
        chunks.append(chunk)
        if not message.get("more_body", False):
            return b"".join(chunks)


_MINIMAL_HEADERS = ((PREFERENCE_APPLIED.encode(), MINIMAL.encode()),)


async def _send_json(
    send: Send,
    status: int,
    content: Any,
    headers: Iterable[tuple[bytes, bytes]],
) -> None:
    body = _json_bytes(content)
    await send(
        {
            "type": "http.response.start",
            "status": status,
            "headers": [
                (b"content-length", str(len(body)).encode()),
                (b"content-type", b"application/json"),
                *headers,
            ],
        }
    )
    await send({"type": "http.response.body", "body": body})


def _json_bytes(content: Any) -> bytes:
    """Return the answer's JSON in UTF-8, as compact as Starlette's JSONResponse writes it.

    orjson writes it in a tenth of the time. It refuses integers past 64 bits, which the
    standard library then writes (the value rules refuse any past 2**53, but an idempotent
    repeat answers with a job stored before them). A float may read differently (1e-07 as
    1e-7: the same number). No non-finite float reaches an answer: the body's parser and
    the value rules refuse them.
    """
    try:
        return orjson.dumps(content)
    except orjson.JSONEncodeError:
        return json.dumps(
            content, ensure_ascii=False, allow_nan=False, separators=(",", ":")
        ).encode()
