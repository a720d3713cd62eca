"""The one codec of the worker protocol, used by the server and the worker alike.

A frame is one msgpack map: the message's fields and its `type`. `encode` packs a message
object as it is (nested parts too); `decode` checks a frame once, against the message class
its `type` names (every field present with its type, then the class's limits), and returns
the message object. Anything wrong is a ProtocolError that says what, never another error.
Several messages ready together travel as one `batch` frame built from their encodings.
"""

from __future__ import annotations

import dataclasses
import types
import typing
from collections.abc import Callable, Iterable, Mapping, Sequence
from types import MappingProxyType
from typing import Any, Final, Literal

import msgpack

from rota.errors import ProtocolError
from rota.protocol.messages import (
    ALONE,
    FROM_SERVER,
    FROM_WORKER,
    MAX_FRAME_BYTES,
    PROTOCOL_VERSION,
    Batch,
    Hello,
    Message,
    MessageRefused,
    Welcome,
)
from rota.safe_text import excerpt


class ProtocolVersionError(MessageRefused):
    """The peer speaks another version of the protocol."""


@dataclasses.dataclass(frozen=True, slots=True)
class Direction:
    """The messages one side may send: by `type`, with the checks of each class's fields."""

    name: str
    classes: dict[str, type]

    @property
    def types(self) -> frozenset[str]:
        """Return the `type` names of the messages this side sends."""
        return frozenset(self.classes)


FROM_WORKER_SIDE: Final = Direction("worker", {cls.TYPE: cls for cls in FROM_WORKER})  # type: ignore[attr-defined]
FROM_SERVER_SIDE: Final = Direction("server", {cls.TYPE: cls for cls in FROM_SERVER})  # type: ignore[attr-defined]


def encode(message: Message | Batch) -> bytes:
    """Return the frame of a message, or raise ProtocolError if it cannot be encoded or
    exceeds MAX_FRAME_BYTES."""
    data = encode_item(message)
    if len(data) > MAX_FRAME_BYTES:
        raise ProtocolError(f"a {message.TYPE} frame of {len(data)} bytes exceeds the limit")
    return data


def encode_item(value: Any) -> bytes:
    """Return the msgpack of a message or a part of one (a `jobs` entry), unbounded; raise
    ProtocolError if it cannot be encoded."""
    try:
        data: bytes = msgpack.packb(value, default=_wire, use_bin_type=True, datetime=False)
    except (TypeError, ValueError, OverflowError) as exc:  # UnicodeEncodeError is a ValueError
        what = getattr(value, "TYPE", "message")
        raise ProtocolError(f"a {what} message cannot be encoded: {_plain(exc)}") from None
    return data


def _wire(value: Any) -> Any:
    """Return a message or part as msgpack can pack it: a map of its fields (msgpack's hook
    for types it does not know)."""
    names = _FIELD_NAMES.get(type(value))
    if names is None:
        raise TypeError(f"cannot encode a {type(value).__name__}")
    kind = getattr(value, "TYPE", None)
    wire = {} if kind is None else {"type": kind}
    for name in names:
        wire[name] = getattr(value, name)
    return wire


def _array_frame(
    kind: str, field: str, items: Sequence[bytes], extra: Mapping[str, Any] | None = None
) -> bytes:
    packer = msgpack.Packer(use_bin_type=True)
    fields = extra or {}
    head: bytes = packer.pack_map_header(2 + len(fields)) + packer.pack("type") + packer.pack(kind)
    for name, value in fields.items():
        head += packer.pack(name) + packer.pack(value)
    head += packer.pack(field) + packer.pack_array_header(len(items))
    return head + b"".join(items)


def jobs_frame(items: Sequence[bytes], *, sent_at: float | None = None) -> bytes:
    """Return the `jobs` frame carrying these entries, each encoded once by encode_item, and
    the server's clock as it packed them (`sent_at`, seconds since the epoch) if given."""
    return _array_frame("jobs", "jobs", items, None if sent_at is None else {"sent_at": sent_at})


def batch_frame(items: Sequence[bytes]) -> bytes:
    """Return the `batch` frame carrying these messages, each encoded once by encode_item."""
    return _array_frame("batch", "messages", items)


FRAME_OVERHEAD: Final = max(len(batch_frame([])), len(jobs_frame([], sent_at=0.0))) + 4
"""The bytes of a `jobs` or `batch` frame besides its items (its array header takes at most
5)."""


def frames_of(items: Iterable[tuple[bytes, bool]]) -> list[bytes]:
    """Return the frames that carry these encoded messages in order, each flagged whether it
    may share a frame: neighbours that may share go in `batch` frames within the limit."""
    frames: list[bytes] = []
    group: list[bytes] = []
    size = 0
    room = MAX_FRAME_BYTES - FRAME_OVERHEAD

    def close_group() -> None:
        if len(group) == 1:
            frames.append(group[0])
        elif group:
            frames.append(batch_frame(group))
        group.clear()

    for item, shares in items:
        if not shares or len(item) > room:
            close_group()
            size = 0
            frames.append(item)
            continue
        if size + len(item) > room:
            close_group()
            size = 0
        group.append(item)
        size += len(item)
    close_group()
    return frames


def frames_for(messages: Iterable[Message]) -> list[bytes]:
    """Return the frames that carry these messages in order, those that may share a frame
    in `batch` frames; raise ProtocolError if one cannot be encoded or exceeds the limit."""
    return frames_of((encode(message), shares_frames(message)) for message in messages)


def shares_frames(message: Message) -> bool:
    """Tell whether a message may travel in a `batch` with others."""
    return type(message) not in ALONE


def decode(frame: bytes, side: Direction) -> Any:
    """Return the message a frame from `side` carries, or raise ProtocolError saying what is
    wrong (ProtocolVersionError for a hello or welcome of another protocol version)."""
    if len(frame) > MAX_FRAME_BYTES:
        raise ProtocolError(f"frame of {len(frame)} bytes exceeds {MAX_FRAME_BYTES}")
    try:
        raw: Any = msgpack.unpackb(frame, raw=False, strict_map_key=True)
    except Exception as exc:  # msgpack raises several unrelated types
        why = _plain(exc) or _UNSAID.get(type(exc), type(exc).__name__)
        raise ProtocolError(f"frame is not valid msgpack: {why}") from None
    return _message(raw, side, nested=False)


_UNSAID: Final[Mapping[type, str]] = MappingProxyType(
    {
        msgpack.FormatError: "a byte that starts no msgpack value",
        msgpack.StackError: "nested too deeply",
    }
)
"""What msgpack's errors that carry no text of their own mean."""


def _message(raw: Any, side: Direction, *, nested: bool) -> Any:
    if not isinstance(raw, dict):
        raise ProtocolError("a message must be a msgpack map")
    kind = raw.get("type")
    if not isinstance(kind, str):
        raise ProtocolError(f"unknown message type {excerpt(kind)}")
    cls = side.classes.get(kind)
    if cls is None:
        if kind in _EVERY_TYPE:
            raise ProtocolError(f"unexpected message type {excerpt(kind)} from a {side.name}")
        raise ProtocolError(f"unknown message type {excerpt(kind)}")
    if nested and cls in ALONE:
        raise ProtocolError(f"a {kind} message cannot travel in a batch")
    if cls in (Hello, Welcome):
        version = raw.get("version")
        if version != PROTOCOL_VERSION or type(version) is not int:
            shown = version if type(version) is int else excerpt(version)
            raise ProtocolVersionError(
                f"protocol version {shown} is not supported; "
                f"this {_other(side)} speaks version {PROTOCOL_VERSION}"
            )
    if cls is Batch:
        items = raw.get("messages")
        if not isinstance(items, list):
            raise ProtocolError("batch.messages must be a list of messages")
        return Batch(messages=tuple(_message(item, side, nested=True) for item in items))
    try:
        return _build(cls, raw)
    except _Wrong as exc:
        where = "".join([kind, *reversed(exc.parts)])
        if exc.reason is None:
            raise ProtocolError(f"{where} has the wrong type") from None
        raise ProtocolError(f"{where} {exc.reason}") from None


def _other(side: Direction) -> str:
    return "server" if side.name == "worker" else "worker"


# --- field checks, made once per class from its type hints ------------------------------
# A check returns the value as the class holds it, or raises _Wrong; the path to the value
# is put together only then, as the error unwinds, so a good frame costs no text.


class _Wrong(Exception):
    """A value does not fit its field; `parts` collects where, innermost first."""

    def __init__(self, reason: str | None = None) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str] = []


_Check = Callable[[Any], Any]
_ABSENT: Final = object()


@dataclasses.dataclass(frozen=True, slots=True)
class _Schema:
    fields: tuple[tuple[str, _Check, bool], ...]
    """Each field's name, its check, and whether it is required."""
    check_limits: Callable[[Any], None] | None


def _build(cls: type, raw: dict[str, Any]) -> Any:
    schema = _SCHEMAS[cls]
    values: dict[str, Any] = {}
    for name, check, required in schema.fields:
        value = raw.get(name, _ABSENT)
        if value is _ABSENT:
            if required:
                raise _Wrong(f"lacks {name!r}")
            continue
        try:
            values[name] = check(value)
        except _Wrong as exc:
            exc.parts.append(f".{name}")
            raise
    built = cls(**values)
    if schema.check_limits is not None:
        schema.check_limits(built)
    return built


def _compile(cls: type) -> _Schema:
    hints = typing.get_type_hints(cls)
    schema = _Schema(
        fields=tuple(
            (
                field.name,
                _check_for(hints[field.name]),
                field.default is dataclasses.MISSING
                and field.default_factory is dataclasses.MISSING,
            )
            for field in dataclasses.fields(cls)
        ),
        check_limits=getattr(cls, "check_limits", None),
    )
    return schema


def _text(value: Any) -> str:
    if type(value) is not str:
        raise _Wrong
    return value


def _integer(value: Any) -> int:
    if type(value) is not int:  # never a bool where a number is meant
        raise _Wrong
    return value


def _number(value: Any) -> float:
    if type(value) is float:
        return value
    if type(value) is int:
        return float(value)
    raise _Wrong


def _flag(value: Any) -> bool:
    if type(value) is not bool:
        raise _Wrong
    return value


def _anything(value: Any) -> Any:
    return value


def _check_for(hint: Any) -> _Check:
    simple = {str: _text, int: _integer, float: _number, bool: _flag}.get(hint)
    if simple is not None:
        return simple
    if hint is Any:
        return _anything
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if origin is Literal:
        choices = frozenset(args)
        shown = " or ".join(sorted(choices))

        def one_of(value: Any) -> Any:
            if type(value) is not str or value not in choices:
                raise _Wrong(f"{excerpt(value)} is not {shown}")
            return value

        return one_of
    if origin in (typing.Union, types.UnionType):
        inner = _check_for(next(arg for arg in args if arg is not type(None)))

        def optional(value: Any) -> Any:
            return None if value is None else inner(value)

        return optional
    if origin is tuple:
        return _items(_check_for(args[0]))
    if origin in (list, dict):
        container = origin

        def plain(value: Any) -> Any:
            if type(value) is not container:
                raise _Wrong
            return value

        return plain
    if dataclasses.is_dataclass(hint) and isinstance(hint, type):
        part: type = hint

        def nested(value: Any) -> Any:
            if type(value) is not dict:
                raise _Wrong
            return _build(part, value)

        return nested
    raise TypeError(f"the protocol cannot carry a field of type {hint!r}")


def _items(item: _Check) -> _Check:
    def items(value: Any) -> tuple[Any, ...]:
        if type(value) is not list:
            raise _Wrong
        try:
            return tuple(map(item, value))
        except _Wrong as exc:
            for index, part in enumerate(value):  # find which one, for the message
                try:
                    item(part)
                except _Wrong:
                    exc.parts.append(f"[{index}]")
                    break
            raise

    return items


def _plain(exc: Exception) -> str:
    """Return an exception's text in ASCII: it may quote the very character that failed."""
    return ascii(str(exc))[1:-1]


def _classes_in(classes: Iterable[type], found: dict[type, None]) -> dict[type, None]:
    """Return these classes and the classes of the parts their fields hold, in order."""
    for cls in classes:
        if cls in found or cls is Batch:
            continue
        found[cls] = None
        for hint in typing.get_type_hints(cls).values():
            parts = [hint, *typing.get_args(hint)]
            _classes_in(
                (p for p in parts if dataclasses.is_dataclass(p) and isinstance(p, type)), found
            )
    return found


_EVERY_CLASS: Final = tuple(_classes_in((*FROM_WORKER, *FROM_SERVER), {}))
_FIELD_NAMES: Final[Mapping[type, tuple[str, ...]]] = MappingProxyType(
    {
        **{cls: tuple(field.name for field in dataclasses.fields(cls)) for cls in _EVERY_CLASS},
        Batch: ("messages",),
    }
)
_SCHEMAS: Final[Mapping[type, _Schema]] = MappingProxyType(
    {cls: _compile(cls) for cls in _EVERY_CLASS}
)
_EVERY_TYPE: Final = frozenset(FROM_WORKER_SIDE.classes) | frozenset(FROM_SERVER_SIDE.classes)
