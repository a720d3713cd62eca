"""Why a server ends a worker's connection: the WebSocket close codes of the protocol.

RFC 6455 leaves 4000-4999 to applications; Rota's mirror the HTTP statuses of the same
meaning (4401 as 401). A worker closed with one of REFUSED_FOR_GOOD, or whose handshake is
answered with one of HTTP_REFUSED_FOR_GOOD, stops with the reason instead of reconnecting:
the same hello would meet the same answer. Any other close is transient (a server going
away, a network fault, a server error), and the worker reconnects with backoff.
docs/protocol.md lists the same codes, and a test holds the two together.
"""

from __future__ import annotations

from typing import Final

# RFC 6455's codes the server uses.
CLOSE_NORMAL: Final = 1000
CLOSE_PROTOCOL_ERROR: Final = 1002
"""A frame that breaks the protocol after the handshake (not msgpack, unknown type...)."""
CLOSE_POLICY_VIOLATION: Final = 1008
"""A well-formed message beyond the limits after the handshake, or a silent worker."""
CLOSE_INTERNAL_ERROR: Final = 1011

# Rota's: a refusal for good.
CLOSE_HELLO_REFUSED: Final = 4400
"""The hello is not one the server accepts: values beyond the protocol's limits."""
CLOSE_UNAUTHENTICATED: Final = 4401
"""No credentials, or credentials the server does not know (or that were revoked)."""
CLOSE_FORBIDDEN: Final = 4403
"""Credentials that do not allow this: not a worker's, or not for this worker's name."""
CLOSE_NAME_TAKEN: Final = 4409
"""A live worker holds the name, and the hello did not present that worker's session."""
CLOSE_UNSUPPORTED_VERSION: Final = 4426
"""The hello speaks another protocol version than the server."""

REFUSED_FOR_GOOD: Final = frozenset(
    {
        CLOSE_HELLO_REFUSED,
        CLOSE_UNAUTHENTICATED,
        CLOSE_FORBIDDEN,
        CLOSE_NAME_TAKEN,
        CLOSE_UNSUPPORTED_VERSION,
    }
)
"""Close codes after which a worker stops instead of reconnecting."""
HTTP_REFUSED_FOR_GOOD: Final = frozenset({401, 403})
"""Statuses of a refused WebSocket handshake after which a worker stops."""

MAX_REASON_BYTES: Final = 123
"""RFC 6455: a close frame's reason is at most 123 bytes of UTF-8 (125 with the code)."""


def close_reason(message: str) -> str:
    """Return `message` as a close frame's reason: whole if it fits MAX_REASON_BYTES, else
    cut at a character boundary and ended with "…" (a longer one makes the close fail)."""
    if len(message.encode("utf-8", "surrogatepass")) <= MAX_REASON_BYTES:
        return message
    room = MAX_REASON_BYTES - len("…".encode())
    cut = message.encode("utf-8", "surrogatepass")[:room].decode("utf-8", "ignore")
    return cut + "…"
