"""The worker <-> server protocol: versioned msgpack messages over one WebSocket.

Each WebSocket binary frame carries exactly one message: a msgpack map with a "type" key.
docs/protocol.md describes every message; `decode` checks that a frame is one of them.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final

import msgpack

from rota.errors import ProtocolError
from rota.safe_text import excerpt
from rota.types import Payload

PROTOCOL_VERSION: Final = 2
"""2: a job's code must have stopped before its lease is released (`stopping`, `unleased`)."""
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
WEBSOCKET_PATH: Final = "/api/v1/workers/connect"

# Required fields of each message and the types their values must have.
_LEASES = list
_FIELDS: Final[dict[str, dict[str, type | tuple[type, ...]]]] = {
    # worker -> server
    "hello": {
        "version": int,
        "name": str,
        "queues": list,
        "tags": list,
        "tasks": list,
        "capacity": int,
        "running": _LEASES,
    },
    "heartbeat": {"running": _LEASES, "state": str, "resources": dict},
    "progress": {"job_id": str, "token": str},
    "log": {"job_id": str, "token": str, "lines": list},
    "result": {"job_id": str, "token": str},
    "failure": {"job_id": str, "token": str, "error": str, "retryable": bool},
    "release": {"job_id": str, "token": str},
    "stopping": {"job_id": str, "token": str, "message": str},
    # server -> worker
    "welcome": {
        "version": int,
        "server": str,
        "heartbeat_s": (int, float),
        "lease_s": (int, float),
        "stale": list,
    },
    "jobs": {"jobs": list},
    "cancel": {"job_id": str},
    "ack": {"job_id": str, "ok": bool},
    "leases": {"stale": list},
    # both ways
    "drain": {},
    "error": {"message": str},
}

WORKER_MESSAGES: Final = frozenset(
    {"hello", "heartbeat", "progress", "log", "result", "failure", "release", "stopping", "drain"}
)
SERVER_MESSAGES: Final = frozenset({"welcome", "jobs", "cancel", "ack", "leases", "drain", "error"})


def encode(message: Payload) -> bytes:
    """Return the frame for a message, checking it first (ProtocolError if it cannot be
    encoded or exceeds MAX_FRAME_BYTES)."""
    _check(message)
    try:
        data: bytes = msgpack.packb(message, use_bin_type=True, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:  # UnicodeEncodeError is a ValueError
        kind = message["type"]
        raise ProtocolError(f"a {kind} message cannot be encoded: {_plain(exc)}") from None
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"a {message['type']} frame of {len(data)} bytes exceeds the limit")
    return data


def encode_item(value: Any) -> bytes:
    """Return the msgpack of one item of a message (a `jobs` entry), or raise ProtocolError."""
    try:
        data: bytes = msgpack.packb(value, use_bin_type=True, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:
        raise ProtocolError(f"cannot be encoded: {_plain(exc)}") from None
    return data


def jobs_frame(items: Sequence[bytes]) -> bytes:
    """Return the `jobs` frame carrying these entries, each encoded once by encode_item."""
    packer = msgpack.Packer(use_bin_type=True)
    head: bytes = packer.pack_map_header(2) + packer.pack("type") + packer.pack("jobs")
    head += packer.pack("jobs") + packer.pack_array_header(len(items))
    return head + b"".join(items)


JOBS_FRAME_OVERHEAD: Final = len(jobs_frame([])) + 4
"""The bytes of a `jobs` frame besides its entries (its array header takes at most 5)."""


def decode(frame: bytes, *, allowed: frozenset[str] | None = None) -> Payload:
    """Return the message a frame carries, or raise ProtocolError saying what is wrong."""
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        message: Any = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        raise ProtocolError(f"frame is not valid msgpack: {exc}") from None
    if not isinstance(message, dict):
        raise ProtocolError("a message must be a msgpack map")
    _check(message)
    if allowed is not None and message["type"] not in allowed:
        raise ProtocolError(f"unexpected message type {excerpt(message['type'])}")
    return message


def _plain(exc: Exception) -> str:
    """Return an exception's text in ASCII: it may quote the very character that failed."""
    return ascii(str(exc))[1:-1]


def _check(message: Payload) -> None:
    kind = message.get("type")
    if not isinstance(kind, str) or kind not in _FIELDS:
        raise ProtocolError(f"unknown message type {excerpt(kind)}")
    for name, expected in _FIELDS[kind].items():
        if name not in message:
            raise ProtocolError(f"{kind} message lacks {name!r}")
        value = message[name]
        # bool is an int subclass; never accept it where a number is meant.
        if not isinstance(value, expected) or (isinstance(value, bool) and expected is not bool):
            raise ProtocolError(f"{kind}.{name} has the wrong type")
