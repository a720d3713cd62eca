"""The worker protocol's codec: round trips of every message, and every way a frame can be
wrong, refused once, on decoding, with a ProtocolError that says what."""

from __future__ import annotations

import json
from typing import Any

import msgpack
import pytest

from rota.errors import ProtocolError
from rota.jobs import Lease
from rota.protocol import (
    FROM_SERVER_SIDE,
    FROM_WORKER_SIDE,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Ack,
    Batch,
    Cancel,
    Drain,
    Error,
    Failure,
    Heartbeat,
    Hello,
    JobOrder,
    Jobs,
    Leases,
    Log,
    LogLine,
    Message,
    MessageRefused,
    Progress,
    ProtocolVersionError,
    Release,
    Result,
    Stopping,
    Welcome,
    batch_frame,
    decode,
    encode,
    frames_for,
    frames_of,
)
from rota.protocol.closing import MAX_REASON_BYTES, close_reason
from rota.protocol.messages import FROM_SERVER, FROM_WORKER, MAX_ID_CHARS

HELLO = Hello(
    version=PROTOCOL_VERSION,
    name="w1",
    queues=("default",),
    tags=("gpu",),
    tasks=("rota.echo",),
    capacity=4,
    running=(Lease(job_id="j1", token="t1"),),
)
ORDER = JobOrder(
    job_id="j",
    token="t",
    task="rota.echo",
    args=[1, "two", {"three": [None]}],
    kwargs={"k": 1.5},
    attempt=1,
    max_attempts=3,
    timeout_s=None,
    queue="default",
)
FROM_WORKER_EXAMPLES: list[Message] = [
    HELLO,
    Heartbeat(running=(), unleased=1, state="online", resources={"cpu_percent": 1.5}),
    Progress(job_id="j", token="t", progress=0.5, message=None),
    Log(job_id="j", token="t", lines=(LogLine(at=1.5, stream="log", message="hi"),)),
    Result(job_id="j", token="t", result_json='{"nested":[1,"two",null]}'),
    Failure(job_id="j", token="t", error="E", traceback=None, retryable=True),
    Release(job_id="j", token="t"),
    Stopping(job_id="j", token="t", message="timed out after 2s"),
    Drain(),
]
FROM_SERVER_EXAMPLES: list[Message] = [
    Welcome(
        version=PROTOCOL_VERSION,
        server="s",
        heartbeat_s=5.0,
        lease_s=30.0,
        stale=(),
        session="secret",
    ),
    Jobs(jobs=(ORDER,)),
    Cancel(job_id="j", reason="cancelled"),
    Ack(job_id="j", ok=False, error="stale"),
    Leases(stale=("j",)),
    Drain(),
    Error(message="bad"),
]


def raw(value: Any) -> bytes:
    data: bytes = msgpack.packb(value, use_bin_type=True)
    return data


def wire(message: Message) -> dict[str, Any]:
    unpacked: dict[str, Any] = msgpack.unpackb(encode(message))
    return unpacked


@pytest.mark.parametrize("message", FROM_WORKER_EXAMPLES, ids=lambda m: m.TYPE)
def test_worker_messages_round_trip(message: Message) -> None:
    assert decode(encode(message), FROM_WORKER_SIDE) == message


@pytest.mark.parametrize("message", FROM_SERVER_EXAMPLES, ids=lambda m: m.TYPE)
def test_server_messages_round_trip(message: Message) -> None:
    assert decode(encode(message), FROM_SERVER_SIDE) == message


def test_the_examples_cover_every_message() -> None:
    assert {type(m) for m in FROM_WORKER_EXAMPLES} | {Batch} == set(FROM_WORKER)
    assert {type(m) for m in FROM_SERVER_EXAMPLES} | {Batch} == set(FROM_SERVER)


def test_a_frame_is_a_plain_map_with_its_type() -> None:
    """What another language's msgpack library reads: nested parts are maps too."""
    assert wire(HELLO) == {
        "type": "hello",
        "version": PROTOCOL_VERSION,
        "name": "w1",
        "queues": ["default"],
        "tags": ["gpu"],
        "tasks": ["rota.echo"],
        "capacity": 4,
        "running": [{"job_id": "j1", "token": "t1"}],
        "unleased": 0,
        "horizon_s": 0.0,
        "lead_s": 0.0,
        "prefetch": 0,
        "session": None,
    }
    assert wire(Jobs(jobs=(ORDER,)))["jobs"][0]["kwargs"] == {"k": 1.5}


def test_a_result_travels_as_json_text() -> None:
    frame = wire(Result(job_id="j", token="t", result_json='{"a":[1]}'))
    assert json.loads(frame["result_json"]) == {"a": [1]}


def test_each_side_accepts_only_its_own_messages() -> None:
    frame = encode(Ack(job_id="j", ok=True))
    with pytest.raises(ProtocolError, match="unexpected message type 'ack' from a worker"):
        decode(frame, FROM_WORKER_SIDE)
    assert decode(frame, FROM_SERVER_SIDE) == Ack(job_id="j", ok=True)


def test_unknown_type_is_refused() -> None:
    for frame in (raw({"type": "launch"}), raw({"no": "type"}), raw({"type": 5})):
        with pytest.raises(ProtocolError, match="unknown message type"):
            decode(frame, FROM_WORKER_SIDE)


def test_missing_field_is_named() -> None:
    message = {k: v for k, v in wire(HELLO).items() if k != "capacity"}
    with pytest.raises(ProtocolError, match="hello lacks 'capacity'"):
        decode(raw(message), FROM_WORKER_SIDE)
    lease_without_token = {**wire(HELLO), "running": [{"job_id": "j"}]}
    with pytest.raises(ProtocolError, match=r"hello\.running\[0\] lacks 'token'"):
        decode(raw(lease_without_token), FROM_WORKER_SIDE)


def test_optional_fields_take_their_defaults() -> None:
    bare = {"type": "progress", "job_id": "j", "token": "t"}
    assert decode(raw(bare), FROM_WORKER_SIDE) == Progress(job_id="j", token="t")
    hello = {k: v for k, v in wire(HELLO).items() if k != "unleased"}
    assert decode(raw(hello), FROM_WORKER_SIDE) == HELLO


def test_wrong_type_is_named() -> None:
    with pytest.raises(ProtocolError, match=r"hello\.capacity has the wrong type"):
        decode(raw({**wire(HELLO), "capacity": "4"}), FROM_WORKER_SIDE)
    with pytest.raises(ProtocolError, match=r"ack\.ok"):
        decode(raw({"type": "ack", "job_id": "j", "ok": 1}), FROM_SERVER_SIDE)
    with pytest.raises(ProtocolError, match=r"hello\.running\[0\]\.token"):
        decode(raw({**wire(HELLO), "running": [{"job_id": "j", "token": 5}]}), FROM_WORKER_SIDE)
    with pytest.raises(ProtocolError, match=r"jobs\.jobs\[0\]\.args"):
        jobs = wire(Jobs(jobs=(ORDER,)))
        jobs["jobs"][0]["args"] = {"not": "a list"}
        decode(raw(jobs), FROM_SERVER_SIDE)
    with pytest.raises(ProtocolError, match=r"heartbeat\.state 'asleep' is not"):
        beat = wire(FROM_WORKER_EXAMPLES[1])
        decode(raw({**beat, "state": "asleep"}), FROM_WORKER_SIDE)


def test_bool_is_not_a_number_and_an_int_is_a_float() -> None:
    with pytest.raises(ProtocolError, match="capacity"):
        decode(raw({**wire(HELLO), "capacity": True}), FROM_WORKER_SIDE)
    welcome = wire(FROM_SERVER_EXAMPLES[0])
    with pytest.raises(ProtocolError, match="heartbeat_s"):
        decode(raw({**welcome, "heartbeat_s": True}), FROM_SERVER_SIDE)
    decoded = decode(raw({**welcome, "heartbeat_s": 5}), FROM_SERVER_SIDE)
    assert type(decoded.heartbeat_s) is float


def test_another_version_is_refused_before_its_fields_are_read() -> None:
    """A hello of another version may have other fields: the version is what it hears."""
    with pytest.raises(
        ProtocolVersionError, match=r"version 2 is not supported; this server speaks version \d"
    ):
        decode(raw({"type": "hello", "version": 2}), FROM_WORKER_SIDE)
    with pytest.raises(ProtocolVersionError, match="version 4"):
        decode(raw({**wire(FROM_SERVER_EXAMPLES[0]), "version": 4}), FROM_SERVER_SIDE)


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"capacity": 0}, "capacity must be between"),
        ({"prefetch": -1}, "prefetch must be between"),
        ({"capacity": 9000, "prefetch": 1001}, "prefetch must be between"),
        ({"name": "no spaces please"}, "worker name"),
        ({"name": "worker\n"}, "worker name"),
        ({"queues": []}, "at least one queue"),
        ({"tags": ["x" * 201]}, "hello.tags must be a list of short strings"),
        ({"tasks": ["a\x00b"]}, "hello.tasks"),
        ({"unleased": -1}, "unleased"),
        ({"horizon_s": -1.0}, "horizon_s must be between"),
        ({"horizon_s": 8 * 86400.0}, "horizon_s must be between"),
        ({"horizon_s": float("nan")}, "horizon_s must be between"),
        ({"session": ""}, "session must be 1 to 200 characters"),
        ({"session": "s" * 201}, "session must be 1 to 200 characters"),
        ({"queues": ["q"] * 1001}, "hello.queues must list at most 1,000"),
        ({"tags": ["t"] * 1001}, "hello.tags must list at most 1,000"),
        ({"tasks": ["t"] * 10_001}, "hello.tasks must list at most 10,000"),
    ],
)
def test_limits_are_checked_on_decoding(change: dict[str, Any], words: str) -> None:
    with pytest.raises(MessageRefused, match=words):
        decode(raw({**wire(HELLO), **change}), FROM_WORKER_SIDE)


NAMING_A_JOB = [m for m in FROM_WORKER_EXAMPLES if hasattr(m, "job_id")]


@pytest.mark.parametrize("message", NAMING_A_JOB, ids=lambda m: m.TYPE)
@pytest.mark.parametrize("field", ["job_id", "token"])
def test_a_job_id_or_token_longer_than_any_the_server_hands_out_is_refused(
    message: Message, field: str
) -> None:
    """The server answers with the job id (an ack twice: in its error too): one of megabytes
    would make an answer too large to send."""
    long_enough = {**wire(message), field: "x" * MAX_ID_CHARS}
    assert getattr(decode(raw(long_enough), FROM_WORKER_SIDE), field) == "x" * MAX_ID_CHARS
    with pytest.raises(MessageRefused, match=f"{message.TYPE}.{field} must be 1 to"):
        decode(raw({**long_enough, field: "x" * (MAX_ID_CHARS + 1)}), FROM_WORKER_SIDE)
    with pytest.raises(MessageRefused, match=f"{message.TYPE}.{field} must be 1 to"):
        decode(raw({**long_enough, field: ""}), FROM_WORKER_SIDE)
    with pytest.raises(MessageRefused, match=f"{message.TYPE}.{field} must be .* without NUL"):
        decode(raw({**long_enough, field: "j\x00"}), FROM_WORKER_SIDE)


@pytest.mark.parametrize("message", [HELLO, FROM_WORKER_EXAMPLES[1]], ids=lambda m: m.TYPE)
@pytest.mark.parametrize(
    ("lease", "words"),
    [
        ({"job_id": "j\x00", "token": "t"}, r"running\[1\].job_id must be 1 to 200 .* NUL"),
        ({"job_id": "j", "token": "t" * 201}, r"running\[1\].token must be 1 to 200"),
        ({"job_id": "", "token": "t"}, r"running\[1\].job_id must be 1 to 200"),
    ],
)
def test_a_lease_a_hello_or_heartbeat_names_has_an_id_and_token_of_that_kind_too(
    message: Message, lease: dict[str, str], words: str
) -> None:
    """PostgreSQL refuses a NUL in text: such an id failed the server's query, not the frame."""
    running = [{"job_id": "j1", "token": "t1"}, lease]
    with pytest.raises(MessageRefused, match=f"{message.TYPE}.{words}"):
        decode(raw({**wire(message), "running": running}), FROM_WORKER_SIDE)


def test_oversize_frames_are_refused() -> None:
    with pytest.raises(ProtocolError, match="exceeds"):
        decode(b"\x80" + b"\x00" * MAX_FRAME_BYTES, FROM_WORKER_SIDE)
    big = Result(job_id="j", token="t", result_json="x" * MAX_FRAME_BYTES)
    with pytest.raises(ProtocolError, match="exceeds"):
        encode(big)


@pytest.mark.parametrize("value", [[1, 2], "hello", 5, None])
def test_non_map_frames_are_refused(value: Any) -> None:
    with pytest.raises(ProtocolError, match="map"):
        decode(raw(value), FROM_WORKER_SIDE)


def test_garbage_is_refused() -> None:
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        decode(b"\xc1", FROM_WORKER_SIDE)
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        decode(raw({"type": "drain"}) + b"extra", FROM_WORKER_SIDE)
    with pytest.raises(ProtocolError, match="not valid msgpack"):
        decode(raw({1: "int key"}), FROM_WORKER_SIDE)


@pytest.mark.parametrize(
    ("frame", "reason"),
    [
        (b"\xc1", "a byte that starts no msgpack value"),
        (b"\x91" * 10_000 + b"\xc0", "nested too deeply"),
        (b"\x81\xa4type", "incomplete input"),
    ],
)
def test_a_frame_that_is_not_msgpack_is_refused_saying_why(frame: bytes, reason: str) -> None:
    """msgpack raises some of its errors without a word: the refusal still says what."""
    with pytest.raises(ProtocolError) as refused:
        decode(frame, FROM_WORKER_SIDE)
    assert refused.value.message.startswith("frame is not valid msgpack: ")
    assert reason in refused.value.message


def test_a_batch_carries_messages_in_order() -> None:
    parts = FROM_WORKER_EXAMPLES[2:]
    frame = batch_frame([encode(message) for message in parts])
    assert decode(frame, FROM_WORKER_SIDE) == Batch(messages=tuple(parts))


def test_a_batch_never_holds_a_handshake_or_a_batch() -> None:
    release = encode(Release(job_id="j", token="t"))
    with pytest.raises(ProtocolError, match="hello message cannot travel in a batch"):
        decode(batch_frame([release, encode(HELLO)]), FROM_WORKER_SIDE)
    with pytest.raises(ProtocolError, match="batch message cannot travel in a batch"):
        decode(batch_frame([release, batch_frame([release, release])]), FROM_WORKER_SIDE)
    with pytest.raises(ProtocolError, match=r"batch\.messages"):
        decode(raw({"type": "batch", "messages": "no"}), FROM_WORKER_SIDE)


def test_messages_ready_together_share_frames_within_the_limit() -> None:
    acks = [Ack(job_id=f"j{n}", ok=True) for n in range(3)]
    [frame] = frames_for(acks)
    assert decode(frame, FROM_SERVER_SIDE) == Batch(messages=tuple(acks))
    # One message goes alone, without a batch around it.
    assert frames_for(acks[:1]) == [encode(acks[0])]
    # The handshake never shares: welcome first, then what follows it.
    welcome = FROM_SERVER_EXAMPLES[0]
    frames = frames_for([welcome, *acks])
    assert [decode(f, FROM_SERVER_SIDE) for f in frames] == [welcome, Batch(messages=(*acks,))]


def test_a_batch_is_split_where_it_would_exceed_the_limit() -> None:
    text = json.dumps("x" * (MAX_FRAME_BYTES // 3))
    results = [Result(job_id=f"j{n}", token="t", result_json=text) for n in range(5)]
    frames = frames_of([(encode(result), True) for result in results])
    assert len(frames) == 3
    assert all(len(frame) <= MAX_FRAME_BYTES for frame in frames)
    carried: list[Message] = []
    for frame in frames:
        message = decode(frame, FROM_WORKER_SIDE)
        carried += message.messages if isinstance(message, Batch) else [message]
    assert carried == results


def test_a_heartbeat_may_carry_the_worker_s_clock_but_only_a_time() -> None:
    """Seconds since the epoch before the year 10000: the offset of a huge one is no figure."""
    beat = Heartbeat(running=(), state="online", resources={}, sent_at=1_900_000_000.25)
    assert decode(encode(beat), FROM_WORKER_SIDE) == beat
    without = {k: v for k, v in wire(beat).items() if k != "sent_at"}
    assert decode(raw(without), FROM_WORKER_SIDE).sent_at is None
    for bad in (float("nan"), float("inf"), -1.0, 2**64 - 1, 1e300, 253_402_300_800):
        with pytest.raises(MessageRefused, match="sent_at must be a time"):
            decode(raw({**wire(beat), "sent_at": bad}), FROM_WORKER_SIDE)
    assert decode(raw({**wire(beat), "sent_at": 0}), FROM_WORKER_SIDE).sent_at == 0.0


def test_a_close_reason_is_cut_to_fit_a_close_frame_at_a_character_boundary() -> None:
    assert close_reason("short") == "short"
    for message in ("é" * 100, "x" * 200, "a" + "€" * 60):
        reason = close_reason(message)
        assert len(reason.encode()) <= MAX_REASON_BYTES and reason.endswith("…")
        assert message.startswith(reason[:-1])
