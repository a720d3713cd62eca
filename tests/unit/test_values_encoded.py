"""A result is checked and encoded once, as JSON text (rota.values.result_json), and a result
that arrives as JSON text is checked without being encoded again (check_result_json). Both
take a quick path for plain values; these tests hold both paths to the full check."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rota.errors import InvalidValue
from rota.values import (
    MAX_DEPTH,
    MAX_RESULT_BYTES,
    MAX_SAFE_INTEGER,
    JsonText,
    check_result,
    check_result_json,
    result_json,
)
from tests.unit.test_values import Colour, Size, nested

# Values near every rule's edge: big integers, non-finite floats, lone surrogates and pairs,
# non-str keys, tuples, enums, and nesting around MAX_DEPTH.
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**64), max_value=2**64),
    st.sampled_from([MAX_SAFE_INTEGER, MAX_SAFE_INTEGER + 1, -MAX_SAFE_INTEGER - 1]),
    st.floats(allow_nan=True, allow_infinity=True),
    st.sampled_from([1e300, 1e-300, 123456789012345680.0]),
    st.text(max_size=8),
    st.sampled_from(["\ud800", "a\udcffb", "\U0001f600", "\x00", Colour.RED, Size.BIG]),
)
keys = st.one_of(st.text(max_size=4), st.integers(0, 3), st.sampled_from(["\ud83d", "k"]))
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4),
        st.lists(inner, max_size=3).map(tuple),
        st.dictionaries(keys, inner, max_size=4),
    ),
    max_leaves=20,
)


def verdict(check: Any, value: Any) -> Any:
    try:
        return check(value)
    except InvalidValue as exc:
        return ("refused", exc.message)


@settings(max_examples=200, deadline=None)
@given(values)
def test_result_json_agrees_with_the_full_check(value: Any) -> None:
    full = verdict(check_result, value)
    quick = verdict(result_json, value)
    if isinstance(full, tuple) and full[0] == "refused":
        assert quick == full
    else:
        assert isinstance(quick, JsonText)
        assert json.loads(quick.text) == full


@settings(max_examples=200, deadline=None)
@given(values)
def test_check_result_json_agrees_with_the_full_check(value: Any) -> None:
    try:  # the text a worker of another make might send, escapes and NaN included
        text = json.dumps(value, allow_nan=True)
    except (TypeError, ValueError, RecursionError):
        return
    decoded = json.loads(text)
    full = verdict(check_result, decoded)
    quick = verdict(check_result_json, text)
    if isinstance(full, tuple) and full[0] == "refused":
        assert isinstance(quick, tuple)
    else:
        assert quick == JsonText(text)


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("not json", "not JSON text"),
        ("[1,]", "not JSON text"),
        ("[NaN]", "NaN is not a JSON number"),
        ("-Infinity", "-Infinity is not a JSON number"),
        ("1e400", "is not a JSON number"),
        ("[" + "9" * 400 + ".0]", "is not a JSON number"),
        ("9007199254740992", "outside"),
        ('"\\ud800"', "lone surrogate"),
        (json.dumps(nested(MAX_DEPTH + 1)), f"nested deeper than {MAX_DEPTH} levels"),
        ("[" * 100_000 + "]" * 100_000, f"nested deeper than {MAX_DEPTH} levels"),
        (json.dumps("x" * MAX_RESULT_BYTES), "over the limit"),
        ("1" * 5000, "not JSON text"),
    ],
)
def test_check_result_json_refuses_what_breaks_the_rules(text: str, words: str) -> None:
    with pytest.raises(InvalidValue, match=words) as refused:
        check_result_json(text)
    assert refused.value.message.startswith("result")


def test_check_result_json_keeps_good_text_as_it_is() -> None:
    for text in ('"\\ud83d\\ude00"', "[1, 2]", json.dumps(nested(MAX_DEPTH)), "9007199254740991"):
        assert check_result_json(text) == JsonText(text)


def test_result_json_is_compact_and_converts_python_values() -> None:
    assert result_json({"a": (1, Colour.RED), "b": Size.BIG}).text == '{"a":[1,"red"],"b":3}'
    assert result_json("\U0001f600").text == '"\U0001f600"'
    with pytest.raises(InvalidValue, match="a key of type int"):
        result_json({1: "int key"})
    with pytest.raises(InvalidValue, match="not a JSON number"):
        result_json([math.nan])
