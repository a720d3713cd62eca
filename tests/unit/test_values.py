"""The one definition of the values a job may carry (rota.values)."""

from __future__ import annotations

import collections
import enum
import json
from typing import Any

import msgpack
import pytest

from rota.errors import InvalidInput, InvalidValue
from rota.protocol import MAX_FRAME_BYTES
from rota.types import JSON
from rota.values import (
    MAX_ARGUMENTS_BYTES,
    MAX_DEPTH,
    MAX_RESULT_BYTES,
    MAX_SAFE_INTEGER,
    check_arguments,
    check_result,
    check_value,
    escape_output,
    readable,
    text_problem,
)


def nested(levels: int, inner: Any = 0) -> Any:
    value = inner
    for _ in range(levels):
        value = [value]
    return value


class Colour(enum.StrEnum):
    RED = "red"


class Size(enum.IntEnum):
    BIG = 3


@pytest.mark.parametrize(
    ("value", "message"),
    [
        (["a\ud800b"], "args[0]: string contains a lone surrogate (\\ud800) at index 1"),
        ({"k": {"x\udcff": 1}}, 'args.k: key "x\\udcff" contains a lone surrogate (\\udcff)'),
        ({"a b": [0, {"c": float("nan")}]}, 'args["a b"][1].c: nan is not a JSON number'),
        ([float("inf")], "args[0]: inf is not a JSON number"),
        ([MAX_SAFE_INTEGER + 1], "args[0]: integer 9007199254740992 is outside +-(2**53 - 1)"),
        ([-(10**400)], "args[0]: an integer of 1329 bits is outside"),
        ([{1: "one"}], "args[0]: a key of type int; keys must be strings"),
        ([b"bytes"], "args[0]: a value of type bytes is not JSON"),
        ([{"s"}], "args[0]: a value of type set is not JSON"),
        ([nested(MAX_DEPTH - 1)], "args[0][0][0][0][0][0][0][0]...: nested deeper than 64"),
    ],
)
def test_refusals_name_where_the_value_sits(value: Any, message: str) -> None:
    args, kwargs = (value, {}) if isinstance(value, list) else ([], value)
    field_message = message if isinstance(value, list) else message.replace("args", "kwargs", 1)
    with pytest.raises(InvalidValue) as caught:
        check_arguments(args, kwargs)
    assert caught.value.message.startswith(field_message), caught.value.message
    assert isinstance(caught.value, InvalidInput) and caught.value.status_code == 422
    caught.value.message.encode("utf-8")  # the message itself can always be sent


def test_levels_count_in_the_job_and_in_the_result() -> None:
    """{"args": [x]} is two levels: x may hold 62, and echoed back as {"args": [x]} the
    result is as deep as what was accepted."""
    deepest = nested(MAX_DEPTH - 2)
    assert check_arguments([deepest], {"k": deepest}) == ([deepest], {"k": deepest})
    assert check_result({"args": [deepest], "kwargs": {"k": deepest}})
    assert check_result(nested(MAX_DEPTH)) == nested(MAX_DEPTH)
    with pytest.raises(InvalidValue, match=r"^result.* nested deeper than 64"):
        check_result(nested(MAX_DEPTH + 1))


def test_plain_values_come_back_as_they_are() -> None:
    args = ["x", 1, -MAX_SAFE_INTEGER, 2.5, True, None, {"\u00e9\U0001f600": ["\x00"]}, []]
    checked, kwargs = check_arguments(args, {})
    assert checked is args and kwargs == {}


def test_python_values_become_plain_json() -> None:
    value = (1, Colour.RED, Size.BIG, collections.OrderedDict(a=(2,)), {Colour.RED: [3.0]})
    checked = check_value(value, "result")
    assert checked == [1, "red", 3, {"a": [2]}, {"red": [3.0]}]
    assert [type(item) for item in checked[:3]] == [int, str, int]
    assert type(checked[3]) is dict and type(next(iter(checked[4]))) is str


def test_args_must_be_a_list_and_kwargs_an_object() -> None:
    with pytest.raises(InvalidValue, match=r"^jobs\[2\]\.args: must be a list"):
        check_arguments("abc", {}, where="jobs[2].")
    with pytest.raises(InvalidValue, match=r"^kwargs: must be an object"):
        check_arguments([], [("a", 1)])


def test_size_limits_count_compact_utf8_json() -> None:
    # {"args":["…"],"kwargs":{}} takes 25 bytes besides the text: this is the limit exactly.
    exact = "x" * (MAX_ARGUMENTS_BYTES - 25)
    check_arguments([exact], {})
    with pytest.raises(InvalidValue, match="together 4,194,305 bytes of JSON, over the limit"):
        check_arguments([exact + "x"], {})
    # An "é" takes two bytes.
    with pytest.raises(InvalidValue, match="together 4,194,305 bytes"):
        check_arguments(["\u00e9" * ((MAX_ARGUMENTS_BYTES - 24) // 2)], {})
    echoed = {"args": [exact], "kwargs": {}}
    assert check_result(echoed) is echoed  # what rota.echo returns fits too
    with pytest.raises(InvalidValue, match=r"^result: .* over the limit of 4,194,304"):
        check_result("x" * MAX_RESULT_BYTES)


def test_a_job_at_the_limits_always_fits_one_frame() -> None:
    """msgpack's worst case: floats take 9 bytes where JSON writes "0.0," in 4."""
    floats = [0.0] * ((MAX_ARGUMENTS_BYTES - 24) // 4)
    args, _ = check_arguments(floats, {})
    assert len(json.dumps(args, separators=(",", ":"))) <= MAX_ARGUMENTS_BYTES
    packed = msgpack.packb({"type": "jobs", "jobs": [{"args": args, "kwargs": {}}]})
    assert len(packed) < MAX_FRAME_BYTES - 1024 * 1024


def test_names_that_a_store_cannot_keep_are_refused() -> None:
    assert text_problem("ok \u00e9") is None
    assert text_problem("a\ud800") == "text contains a lone surrogate (\\ud800) at index 1"
    assert text_problem("a\x00b") == "text contains a NUL character at index 1"


def test_escape_output_escapes_and_shortens_but_never_fails() -> None:
    assert escape_output("name \udcff.txt", 100) == "name \\udcff.txt"
    assert escape_output("a\x00b", 100) == "a\\x00b"
    assert escape_output("x" * 50, 10) == "x" * 10
    assert escape_output("head" + "x" * 50 + "tail", 4, keep_end=True) == "tail"
    assert len(escape_output("\udcff" * 100, 20)) == 20

    class Unprintable:
        def __str__(self) -> str:
            raise RuntimeError("no")

    assert escape_output(Unprintable(), 100) == "<str() failed: RuntimeError: no>"
    escape_output("\ud800\x00" * 10, 15).encode("utf-8")


def test_readable_escapes_old_values_and_leaves_good_ones_alone() -> None:
    good = {"a": ["b", 1, {"c": None}]}
    assert readable(good) is good
    assert readable({"k\udcff": ["a\ud800", 2**70]}) == {"k\\udcff": ["a\\ud800", 2**70]}
    deep = readable(nested(300))
    text = json.dumps(deep)
    assert "nested deeper than 64 levels: not shown" in text
    assert text.count("[") <= MAX_DEPTH + 2


def test_empty_arguments_are_returned_as_given() -> None:
    args: list[JSON] = []
    kwargs: dict[str, JSON] = {}
    checked_args, checked_kwargs = check_arguments(args, kwargs)
    assert checked_args is args and checked_kwargs is kwargs
    assert check_arguments((), {}) == ([], {})


def test_a_refused_values_path_quotes_a_key_with_a_final_line_ending() -> None:
    # `$` also matches before a final newline: such a key was shown bare, as .a<newline>.
    with pytest.raises(InvalidValue) as refused:
        check_value({"a\n": float("nan")}, "kwargs")
    assert refused.value.message.startswith('kwargs["a\\n"]: ')
