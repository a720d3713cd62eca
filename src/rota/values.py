"""The values a job may carry, defined once and checked wherever values enter Rota.

A job's args, kwargs and result (and a schedule's args and kwargs) pass through every stage:
JSON over HTTP, msgpack to and from workers, SQLite's and PostgreSQL's json columns, the CLI
and the dashboard's JavaScript. A value is accepted only if every stage carries it unchanged,
which is I-JSON (RFC 7493) with limits:

- JSON types only: None, bool, int, float, str, list (a tuple is sent as a list) and dict
  whose keys are str. No NaN or infinities, no other types (no silent str() of anything).
- Integers within +-(2**53 - 1), JavaScript's safe range: the dashboard shows them exactly,
  as does every JSON parser (msgpack, SQLite and PostgreSQL hold more; JSON readers do not
  all). Send larger numbers as strings.
- Strings, and keys, must be Unicode text that UTF-8 can encode: no lone UTF-16 surrogate
  (such as the '\\udcff' that os.fsdecode makes of a file name's non-UTF-8 byte). Python's
  json reads them from "\\ud800" escapes, but msgpack, the database drivers and every JSON
  answer encode UTF-8 and fail on them.
- At most MAX_DEPTH (64) levels of lists and dicts, counted in a job's arguments as the job
  holds them, {"args": [...], "kwargs": {...}} (so each argument may itself hold 62), and in
  a result. Real arguments rarely go past ten levels; 64 keeps every recursive stage
  (Python's JSON and FastAPI encoders, msgpack, pydantic, the browser) far
  from its own limit, however deep the answer that embeds the value.
- Size, as compact UTF-8 JSON: that {"args": [...], "kwargs": {...}} at most
  MAX_ARGUMENTS_BYTES, a result at most MAX_RESULT_BYTES (4 MiB each). msgpack takes at most
  2.25 times as many bytes as that JSON (a float: 4 bytes as "0.0," and 9 in msgpack), so
  one job, or one result, always fits a worker frame of 16 MiB with room to spare.

Counting args and kwargs as one document means a task that returns them as it got them
(rota.echo) always has a result within the limits: whatever is accepted can run.

A refusal is InvalidValue (HTTP 422) naming where the value sits: `args[0]`, `kwargs.a.b`,
`jobs[3].args[1]["a key"]`, `result`.

Text that a task writes (log lines, progress messages, errors, tracebacks) is never refused:
`escape_output` escapes what cannot be stored and shortens it, so output is never lost.
"""

from __future__ import annotations

import itertools
import json
import math
import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final, cast

from rota.errors import InvalidValue
from rota.safe_text import safe_str
from rota.types import JSON

MAX_DEPTH: Final = 64
MAX_SAFE_INTEGER: Final = 2**53 - 1
MAX_ARGUMENTS_BYTES: Final = 4 * 1024 * 1024
MAX_RESULT_BYTES: Final = 4 * 1024 * 1024
MAX_LOG_LINE_CHARS: Final = 8 * 1024
MAX_PROGRESS_CHARS: Final = 1000
MAX_ERROR_CHARS: Final = 64 * 1024
MAX_TRACEBACK_CHARS: Final = 64 * 1024

_SURROGATE: Final = re.compile("[\ud800-\udfff]")
_IDENTIFIER: Final = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*$")
_SHOWN_PARTS: Final = 8
_SHOWN_KEY_CHARS: Final = 40
_TOO_DEEP: Final = f"[nested deeper than {MAX_DEPTH} levels: not shown]"
_ARGUMENTS_FRAME: Final = len('{"args":,"kwargs":}')
"""The bytes the document {"args": [...], "kwargs": {...}} adds to its two values."""


class _Refused(Exception):
    """A value was refused; `parts` collects where, innermost first, as the stack unwinds."""

    def __init__(self, reason: str) -> None:
        super().__init__(reason)
        self.reason = reason
        self.parts: list[str | int] = []


def check_value(value: object, field: str) -> JSON:
    """Return the value as plain JSON data (tuples become lists, str and int subclasses their
    base type), or raise InvalidValue naming where in `field` it breaks the rules above.

    The size is not checked here; see check_arguments and check_result.
    """
    return _check(value, field, 0)


def _check(value: object, field: str, depth: int) -> JSON:
    try:
        return _walk(value, depth)
    except _Refused as exc:
        raise InvalidValue(f"{_path(field, exc.parts)}: {exc.reason}") from None


def check_arguments(
    args: object, kwargs: object, *, where: str = ""
) -> tuple[list[JSON], dict[str, JSON]]:
    """Return a job's args and kwargs as plain JSON data, or raise InvalidValue.

    `args` is a list (or tuple) of arguments, `kwargs` a dict with str keys; `where` prefixes
    the field names in messages (e.g. "jobs[3].").
    """
    if type(args) is list and not args and type(kwargs) is dict and not kwargs:
        return args, kwargs  # what the checks below return for them, at a fraction of the cost
    if not isinstance(args, list | tuple):
        raise InvalidValue(f"{where}args: must be a list of arguments")
    if not isinstance(kwargs, Mapping):
        raise InvalidValue(f"{where}kwargs: must be an object of named arguments")
    # Both sit one level inside the document {"args": [...], "kwargs": {...}}.
    checked_args = _check(args, f"{where}args", 1)
    checked_kwargs = _check(kwargs, f"{where}kwargs", 1)
    size = json_size(checked_args) + json_size(checked_kwargs) + _ARGUMENTS_FRAME
    if size > MAX_ARGUMENTS_BYTES:
        raise InvalidValue(
            f"{where}args, {where}kwargs: together {size:,} bytes of JSON, over the limit of "
            f"{MAX_ARGUMENTS_BYTES:,}"
        )
    return checked_args, checked_kwargs


def check_result(value: object) -> JSON:
    """Return a task's result as plain JSON data, or raise InvalidValue saying why not."""
    checked = check_value(value, "result")
    size = json_size(checked)
    if size > MAX_RESULT_BYTES:
        raise InvalidValue(
            f"result: {size:,} bytes of JSON, over the limit of {MAX_RESULT_BYTES:,}"
        )
    return checked


@dataclass(frozen=True, slots=True)
class JsonText:
    """A value already checked by these rules and encoded as compact UTF-8 JSON text, carried
    as it is from where it was checked to the store, so it is encoded once on its way."""

    text: str


def result_json(value: object) -> JsonText:
    """Return a task's result checked and encoded as JSON text, or raise InvalidValue.

    The one encoding of a result: the worker sends this text, the server checks it
    (check_result_json) and the store keeps it. A plain value is encoded straight away and
    checked by scanning its text and comparing its decoding with it (all in C); a value
    that is not plain (a tuple, a non-str key, a NaN, a large integer ...) is walked as
    check_value walks it, which converts it or names the problem.
    """
    try:
        text: str | None = _compact(value)
    except (TypeError, ValueError, RecursionError):
        text = None
    if text is None or not _plain_text(text) or json.loads(text) != value:
        text = _compact(check_value(value, "result"))
    _check_result_size(text)
    return JsonText(text)


def check_result_json(text: str) -> JsonText:
    """Return a result that arrived as JSON text, unchanged once it obeys the rules, or raise
    InvalidValue saying why not (not JSON, NaN, too deep, too large, ...)."""
    _check_result_size(text)
    try:
        value = _RESULT_DECODER.decode(text)
    except _Refused as exc:
        raise InvalidValue(f"result: {exc.reason}") from None
    except RecursionError:
        raise InvalidValue(f"result: nested deeper than {MAX_DEPTH} levels") from None
    except ValueError as exc:  # JSONDecodeError, and integers of too many digits
        raise InvalidValue(f"result: not JSON text ({safe_str(exc)})") from None
    if not _plain_text(text):
        check_value(value, "result")
    return JsonText(text)


def _refuse_constant(name: str) -> object:
    raise _Refused(f"{name} is not a JSON number")


_COMPACT: Final = json.JSONEncoder(ensure_ascii=False, separators=(",", ":"), allow_nan=False)
"""Compact UTF-8 JSON, the form sizes are counted in and values are stored in."""
_RESULT_DECODER: Final = json.JSONDecoder(parse_constant=_refuse_constant)
"""Reads JSON text, refusing NaN and infinities."""
_NEEDS_A_WALK: Final = re.compile(r"\\u[dD][89a-fA-F]|[0-9]{16}|[eE][+-]?[0-9]{3}")
"""In JSON text: a surrogate escape, a run of 16 digits (an integer may exceed 2**53 - 1, a
float may overflow) or an exponent of three digits. Each may be fine; a walk tells."""


def _plain_text(text: str) -> bool:
    """Tell whether JSON text obeys the rules by scans alone: at most MAX_DEPTH brackets (so
    no deeper nesting), no lone surrogate, no number a walk must judge. NaN and infinities
    are refused by the encoder and the decoder themselves."""
    return (
        text.count("[") + text.count("{") <= MAX_DEPTH
        and _NEEDS_A_WALK.search(text) is None
        and (text.isascii() or _SURROGATE.search(text) is None)
    )


def _compact(value: JSON) -> str:
    return _COMPACT.encode(value)


def _check_result_size(text: str) -> None:
    size = len(text) if text.isascii() else len(text.encode("utf-8", "surrogatepass"))
    if size > MAX_RESULT_BYTES:
        raise InvalidValue(
            f"result: {size:,} bytes of JSON, over the limit of {MAX_RESULT_BYTES:,}"
        )


def text_problem(value: str) -> str | None:
    """Return why a name-like text cannot be stored, or None: a lone surrogate cannot be
    encoded, and PostgreSQL's text type refuses the NUL character."""
    try:
        _check_string(value, "text")
    except _Refused as exc:
        return exc.reason
    index = value.find("\x00")
    if index >= 0:
        return f"text contains a NUL character at index {index}"
    return None


def json_size(value: JSON) -> int:
    """Return how many bytes a checked value takes as compact UTF-8 JSON."""
    text = _compact(value)
    return len(text) if text.isascii() else len(text.encode("utf-8"))


def escape_output(text: object, limit: int, *, keep_end: bool = False) -> str:
    """Return text that every stage can carry, at most `limit` characters long.

    Lone surrogates become backslash escapes ('\\udcff'), as do NUL characters ('\\x00');
    longer text keeps its start (or, with keep_end, its end, as for a traceback). Anything
    not a str is shown as rota.safe_text.safe_str shows it.
    """
    if not isinstance(text, str):
        text = safe_str(text)
    text = text[-limit:] if keep_end else text[:limit]
    if not text.isascii() and _SURROGATE.search(text):
        text = text.encode("utf-8", "backslashreplace").decode("utf-8")
    if "\x00" in text:
        text = text.replace("\x00", "\\x00")
    if len(text) > limit:
        text = text[-limit:] if keep_end else text[:limit]
    return text


def readable(value: JSON) -> JSON:
    """Return a stored value in a form every reader can show: the value itself when it obeys
    the rules, else a copy whose lone surrogates are escaped (in strings and keys) and whose
    parts nested deeper than MAX_DEPTH (counted from the value itself, more leniently than
    the checks) are replaced by a note. For values stored before the rules were checked:
    reading must never fail."""
    return _readable(value, 0)


def _walk(value: object, depth: int) -> JSON:
    if isinstance(value, str):
        if type(value) is not str:  # a str subclass (an enum's value): plain str
            value = str.__str__(value)
        _check_string(value, "string")
        return value
    if value is None or isinstance(value, bool):
        return value
    if isinstance(value, int):
        if type(value) is not int:
            value = int(value)
        if -MAX_SAFE_INTEGER <= value <= MAX_SAFE_INTEGER:
            return value
        raise _Refused(f"{_describe_int(value)} is outside +-(2**53 - 1); send it as a string")
    if isinstance(value, float):
        if math.isfinite(value):
            return float(value)
        raise _Refused(f"{value} is not a JSON number")
    if isinstance(value, list | tuple):
        return _walk_list(value, depth)
    if isinstance(value, Mapping):
        return _walk_dict(value, depth)
    raise _Refused(
        f"a value of type {type(value).__name__} is not JSON "
        "(use None, bool, int, float, str, list or dict)"
    )


def _walk_list(value: Sequence[object], depth: int) -> list[JSON]:
    if depth >= MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
    copy: list[JSON] | None = None if type(value) is list else []
    for index, item in enumerate(value):
        try:
            checked = _walk(item, depth + 1)
        except _Refused as exc:
            exc.parts.append(index)
            raise
        if copy is None:
            if checked is item:
                continue
            copy = list(value[:index])
        copy.append(checked)
    return cast("list[JSON]", value) if copy is None else copy


def _walk_dict(value: Mapping[object, object], depth: int) -> dict[str, JSON]:
    if depth >= MAX_DEPTH:
        raise _Refused(f"nested deeper than {MAX_DEPTH} levels")
    copy: dict[str, JSON] | None = None if type(value) is dict else {}
    for index, (key, item) in enumerate(value.items()):
        if not isinstance(key, str):
            raise _Refused(f"a key of type {type(key).__name__}; keys must be strings")
        plain_key = key if type(key) is str else str.__str__(key)
        _check_string(plain_key, f"key {json.dumps(plain_key[:_SHOWN_KEY_CHARS])}")
        try:
            checked = _walk(item, depth + 1)
        except _Refused as exc:
            exc.parts.append(plain_key)
            raise
        if copy is None:
            if checked is item and plain_key is key:
                continue
            # Everything before was plain: copy it as it is.
            copy = {str(k): v for k, v in itertools.islice(value.items(), index)}
        copy[plain_key] = checked
    return cast("dict[str, JSON]", value) if copy is None else copy


def _check_string(text: str, what: str) -> None:
    if text.isascii():
        return
    found = _SURROGATE.search(text)
    if found is not None:
        raise _Refused(
            f"{what} contains a lone surrogate (\\u{ord(found.group()):04x}) "
            f"at index {found.start()}"
        )


def _describe_int(value: int) -> str:
    if value.bit_length() > 128:
        return f"an integer of {value.bit_length()} bits"
    return f"integer {value}"


def _path(field: str, parts: list[str | int]) -> str:
    """Return where a refused value sits, e.g. args[0].a["b c"] (long paths shortened)."""
    inner = list(reversed(parts))
    text = field
    for part in inner[:_SHOWN_PARTS]:
        if isinstance(part, int):
            text += f"[{part}]"
        elif _IDENTIFIER.fullmatch(part) and len(part) <= _SHOWN_KEY_CHARS:
            text += f".{part}"
        else:
            shown = json.dumps(part[:_SHOWN_KEY_CHARS])  # ASCII: escapes a lone surrogate
            text += f"[{shown}]"
    if len(inner) > _SHOWN_PARTS:
        text += "..."
    return text


def _readable(value: JSON, depth: int) -> JSON:
    if isinstance(value, str):
        return _readable_text(value)
    if isinstance(value, list):
        if depth >= MAX_DEPTH:
            return _TOO_DEEP
        copy: list[JSON] | None = None
        for index, item in enumerate(value):
            shown = _readable(item, depth + 1)
            if copy is None:
                if shown is item:
                    continue
                copy = value[:index]
            copy.append(shown)
        return value if copy is None else copy
    if isinstance(value, dict):
        if depth >= MAX_DEPTH:
            return _TOO_DEEP
        shown_dict: dict[str, JSON] | None = None
        for index, (key, item) in enumerate(value.items()):
            shown_key = _readable_text(key) if isinstance(key, str) else str(key)
            shown = _readable(item, depth + 1)
            if shown_dict is None:
                if shown_key is key and shown is item:
                    continue
                shown_dict = dict(itertools.islice(value.items(), index))
            shown_dict[shown_key] = shown
        return value if shown_dict is None else shown_dict
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value


def _readable_text(text: str) -> str:
    if text.isascii() or _SURROGATE.search(text) is None:
        return text
    return text.encode("utf-8", "backslashreplace").decode("utf-8")
