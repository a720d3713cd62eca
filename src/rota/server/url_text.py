"""Refuse a request whose path or query holds text no store can look up (a NUL, a lone
surrogate), in one place before any route reads it.

Without this, each backend answers such a lookup its own way: SQLite finds nothing (404),
PostgreSQL refuses the value (a 422 that does not say which parameter). Here it is one 422
naming the parameter, whatever the route and the backend.
"""

from __future__ import annotations

from urllib.parse import parse_qsl, unquote_to_bytes

from starlette.types import ASGIApp, Receive, Scope, Send

from rota.safe_text import excerpt
from rota.server.errors import error_response
from rota.values import text_problem


class UrlTextMiddleware:
    """Answer 422 InvalidInput for a path or query parameter that is not storable text."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] == "http":
            problem = url_problem(path_text(scope), scope.get("query_string", b""))
            if problem is not None:
                await error_response(422, "InvalidInput", problem)(scope, receive, send)
                return
        await self.app(scope, receive, send)


def path_text(scope: Scope) -> str:
    """Return the request's path as text, where bytes that are not UTF-8 are lone surrogates
    ('\\udcff'), as in the query. The server decodes the path replacing them with U+FFFD,
    which would make '/jobs/%ff' a lookup of '\ufffd' (a 404) rather than a 422."""
    path: str = scope.get("path", "")
    raw = scope.get("raw_path")
    if "\ufffd" not in path or not isinstance(raw, bytes):
        return path  # nothing was replaced (the usual case): the path as decoded
    return unquote_to_bytes(raw.split(b"?", 1)[0]).decode("utf-8", "surrogateescape")


def url_problem(path: str, query_string: bytes) -> str | None:
    """Return what is wrong with a request's path (decoded) or query string (raw), or None."""
    problem = text_problem(path)
    if problem is not None:
        return f"path: {problem}"
    query = query_string.decode("latin-1")
    if "%" not in query and "\x00" not in query:
        return None  # nothing percent-encoded: plain ASCII text, nothing to refuse
    pairs = parse_qsl(query, keep_blank_values=True, errors="surrogateescape")
    for name, value in pairs:
        for part, text in (("name", name), ("value", value)):
            problem = text_problem(text)
            if problem is not None:
                label = excerpt(name) if part == "value" else "a query parameter's name"
                return f"query parameter {label}: {problem}"
    return None
