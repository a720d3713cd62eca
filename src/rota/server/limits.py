"""A limit on request body size, enforced on the declared length and on the bytes received."""

from __future__ import annotations

from starlette.exceptions import HTTPException
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from rota.server.errors import error_response


class BodyTooLarge(HTTPException):
    """The request body is larger than the server accepts."""

    def __init__(self, limit_bytes: int) -> None:
        super().__init__(
            status_code=413,
            detail=f"the request body is larger than the limit of {limit_bytes} bytes",
        )


class BodyLimitMiddleware:
    """Refuse request bodies over `max_body_bytes` with 413.

    The Content-Length header is checked before anything is read; the bytes actually
    received are counted too, so a chunked body without a length cannot slip past.
    """

    def __init__(self, app: ASGIApp, *, max_body_bytes: int) -> None:
        self.app = app
        self.max_body_bytes = max_body_bytes

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        declared = declared_length(scope)
        if declared == -1:
            response = error_response(400, "InvalidInput", "the Content-Length header is invalid")
            await response(scope, receive, send)
            return
        if declared is not None and declared > self.max_body_bytes:
            exc = BodyTooLarge(self.max_body_bytes)
            await error_response(413, type(exc).__name__, exc.detail)(scope, receive, send)
            return

        received = 0
        started = False

        async def limited_receive() -> Message:
            nonlocal received
            message = await receive()
            if message["type"] == "http.request":
                received += len(message.get("body", b""))
                if received > self.max_body_bytes:
                    raise BodyTooLarge(self.max_body_bytes)
            return message

        async def watched_send(message: Message) -> None:
            nonlocal started
            started = started or message["type"] == "http.response.start"
            await send(message)

        try:
            await self.app(scope, limited_receive, watched_send)
        except BodyTooLarge as exc:
            # Normally the app's error handlers answer; this covers a read outside them.
            if started:
                raise
            await error_response(413, type(exc).__name__, exc.detail)(scope, receive, send)


def declared_length(scope: Scope) -> int | None:
    """Return the declared body length, None when absent, -1 when unreadable."""
    for name, value in scope.get("headers", ()):
        if name == b"content-length":
            try:
                length = int(value)
            except ValueError:
                return -1
            return length if length >= 0 else -1
    return None
