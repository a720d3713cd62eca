"""The worker protocol's frames: round trips and every way a frame can be wrong."""

from __future__ import annotations

from typing import Any

import msgpack
import pytest

from rota.errors import ProtocolError
from rota.protocol import (
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    SERVER_MESSAGES,
    WORKER_MESSAGES,
    decode,
    encode,
)

HELLO: dict[str, Any] = {
    "type": "hello",
    "version": PROTOCOL_VERSION,
    "name": "w1",
    "queues": ["default"],
    "tags": ["gpu"],
    "tasks": ["rota.echo"],
    "capacity": 4,
    "running": [{"job_id": "j1", "token": "t1"}],
}

EXAMPLES: list[dict[str, Any]] = [
    HELLO,
    {
        "type": "heartbeat",
        "running": [],
        "unleased": 1,
        "state": "online",
        "resources": {"cpu_percent": 1.5},
    },
    {"type": "progress", "job_id": "j", "token": "t", "progress": 0.5, "message": None},
    {
        "type": "log",
        "job_id": "j",
        "token": "t",
        "lines": [{"at": 1.5, "stream": "log", "message": "hi"}],
    },
    {"type": "result", "job_id": "j", "token": "t", "result": {"nested": [1, "two", None]}},
    {
        "type": "failure",
        "job_id": "j",
        "token": "t",
        "error": "E",
        "traceback": None,
        "retryable": True,
    },
    {"type": "release", "job_id": "j", "token": "t"},
    {"type": "stopping", "job_id": "j", "token": "t", "message": "timed out after 2s"},
    {
        "type": "welcome",
        "version": 1,
        "server": "s",
        "heartbeat_s": 5,
        "lease_s": 30.0,
        "stale": [],
    },
    {
        "type": "jobs",
        "jobs": [{"job_id": "j", "token": "t", "task": "rota.echo", "args": [b"\x00"]}],
    },
    {"type": "cancel", "job_id": "j", "reason": "cancelled"},
    {"type": "ack", "job_id": "j", "ok": False, "error": "stale"},
    {"type": "leases", "stale": ["j"]},
    {"type": "drain"},
    {"type": "error", "message": "bad"},
]


@pytest.mark.parametrize("message", EXAMPLES, ids=lambda m: m["type"])
def test_round_trip(message: dict[str, Any]) -> None:
    assert decode(encode(message)) == message


def test_direction_sets_cover_every_example() -> None:
    kinds = {m["type"] for m in EXAMPLES}
    assert kinds == WORKER_MESSAGES | SERVER_MESSAGES


def test_allowed_restricts_the_direction() -> None:
    frame = encode({"type": "ack", "job_id": "j", "ok": True})
    with pytest.raises(ProtocolError, match="unexpected"):
        decode(frame, allowed=WORKER_MESSAGES)
    assert decode(frame, allowed=SERVER_MESSAGES)["ok"] is True


def raw(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def test_unknown_type_is_refused() -> None:
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode(raw({"type": "launch"}))
    with pytest.raises(ProtocolError, match="unknown message type"):
        decode(raw({"no": "type"}))
    with pytest.raises(ProtocolError, match="unknown message type"):
        encode({"type": 5})


def test_missing_field_is_named() -> None:
    message = {k: v for k, v in HELLO.items() if k != "capacity"}
    with pytest.raises(ProtocolError, match="capacity"):
        decode(raw(message))
    with pytest.raises(ProtocolError, match="capacity"):
        encode(message)


def test_wrong_type_is_named() -> None:
    with pytest.raises(ProtocolError, match=r"hello\.capacity"):
        decode(raw({**HELLO, "capacity": "4"}))
    with pytest.raises(ProtocolError, match=r"ack\.ok"):
        decode(raw({"type": "ack", "job_id": "j", "ok": 1}))


def test_bool_is_not_an_int() -> None:
    with pytest.raises(ProtocolError, match="capacity"):
        decode(raw({**HELLO, "capacity": True}))
    with pytest.raises(ProtocolError, match="heartbeat_s"):
        encode({**EXAMPLES[8], "heartbeat_s": True})


def test_oversize_frames_are_refused() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        decode(b"\x80" + b"\x00" * MAX_FRAME_BYTES)
    big = {"type": "result", "job_id": "j", "token": "t", "result": "x" * MAX_FRAME_BYTES}
    with pytest.raises(ProtocolError, match="exceeds"):
        encode(big)


@pytest.mark.parametrize("value", [[1, 2], "hello", 5, None])
def test_non_map_frames_are_refused(value: Any) -> None:
    with pytest.raises(ProtocolError, match="map"):
        decode(raw(value))


def test_garbage_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        decode(b"\xc1")
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        decode(raw({"type": "drain"}) + b"extra")
