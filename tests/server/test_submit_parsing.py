"""A submission's body is read by orjson when that gives what Python's json gives: the same
jobs from every body, and the same refusals, worded the same."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rota.errors import RotaError
from rota.json_numbers import has_long_number
from rota.server.api import schemas
from rota.server.api.schemas import parse_json, parse_submission_body, parse_submissions

MAX_BULK = 10
NOW = datetime(2030, 1, 1, tzinfo=UTC)


def standard(body: bytes) -> Any:
    """What json's path makes of a body: the jobs' fields, or the refusal."""
    try:
        jobs, bulk = parse_submissions(parse_json(body), max_bulk=MAX_BULK)
    except RotaError as exc:
        return (type(exc).__name__, str(exc))
    return [(job.to_spec(NOW), job.delay) for job in jobs], bulk


def fast(body: bytes) -> Any:
    try:
        jobs, bulk = parse_submission_body(body, max_bulk=MAX_BULK)
    except RotaError as exc:
        return (type(exc).__name__, str(exc))
    return [(job.to_spec(NOW), job.delay) for job in jobs], bulk


def deep(levels: int) -> str:
    return "[" * levels + "]" * levels


BODIES = [
    b'{"task": "app.add", "args": [1, 2.5, "three", null, true, {"k": [false]}]}',
    b'[{"task": "app.add"}, {"task": "app.mul", "queue": "q", "priority": -3}]',
    b'[{"task": "app.add", "args": [18446744073709551616]}]',  # over 64 bits: json reads it
    b'[{"task": "app.add", "args": [-9223372036854775809]}]',
    b'[{"task": "app.add", "args": [9007199254740992]}]',  # 2**53: refused either way
    b'[{"task":"app.add","args":[18446744073709551616,-18446744073709551616]}]',
    b'{"task": "app.add", "kwargs": {"n":\n\t-18446744073709551616}}',
    b'[{"task": "app.add", "kwargs": {"n":\r18446744073709551616}}]',
    b'[{"task": "app.add", "idempotency_key": "k-18446744073709551616"}]',
    b'[{"task": "app.add", "args": [1e400]}]',
    b'[{"task": "app.add", "args": [NaN]}]',
    b'[{"task": "app.add", "args": [Infinity]}]',
    b'[{"task": "app.add", "args": ["\\ud800"]}]',
    b'[{"task": "app.add", "args": ["\xff"]}]',
    b'\xef\xbb\xbf[{"task": "app.add"}]',
    '[{"task": "app.add"}]'.encode("utf-16"),  # json detects UTF-16
    b'[{"task": "app.add", "args": [' + deep(70).encode() + b"]}]",
    b'[{"task": "app.add", "args": [' + deep(1000).encode() + b"]}]",  # json gives up
    b'[{"task": "app.add", "args": [' + deep(1100).encode() + b"]}]",  # both give up
    b'[{"task": "app.add", "priority": 10000}, {"task": "x y"}]',
    b'[{"task": "app.add", "colour": "red"}]',
    b'[{"task": "app.add", "args": [1], "args": [2]}]',  # the last of a repeated key
    b'[{"task": "app.add", "args": [-0, -0.0, 1E2, 5e-324, 0.1]}]',
    b'[{"task": "app.add", "kwargs": {"\\u00e9": "\\u0000"}}]',
    b'{"task": "app.add", "run_at": "2030-01-01T00:00:00+02:00", "delay": 5}',
    b"[]",
    b"5",
    b"[1,]",
    b"{task",
    b'[{"task": "app.add"}] x',
    b'[{"task": "app.add"}]' * 2,
]


@pytest.mark.parametrize("body", BODIES, ids=range(len(BODIES)))
def test_the_fast_read_gives_what_json_gives(body: bytes) -> None:
    assert fast(body) == standard(body)


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)


@settings(max_examples=300, deadline=None)
@given(args=st.lists(JSON_VALUES, max_size=4), kwargs=st.dictionaries(st.text(), JSON_VALUES))
def test_any_arguments_read_fast_as_json_reads_them(args: Any, kwargs: Any) -> None:
    item = {"task": "app.add", "args": args, "kwargs": kwargs}
    body = json.dumps([item, item], ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert fast(body) == standard(body)


OPTION_VALUES: dict[str, list[Any]] = {
    "task": ["app.add", "app.mul", "not a name", "app.add\n", 5, None],
    "queue": ["q", "q-2", "", "a b", 1],
    "priority": [0, 7, -1000, 1001, True, 1.0, "1"],
    "delay": [5, 0, -1, 2.5, -0.0, None],
    "run_at": ["2030-01-01T00:00:00Z", "2030-01-01", 0, None],
    "max_attempts": [1, 0, 3],
    "timeout": [1, 0, None, 1.5],
    "target": ["gpu", "", None, "x" * 201],
    "backoff": [{"base_s": 1}, {"nope": 1}, None],
    "colour": ["red"],
}
OWN_VALUES: dict[str, list[Any]] = {
    "args": [[], [1, "a"], [[[]]], "x", None, {"a": 1}, [2**60]],
    "kwargs": [{}, {"k": [1]}, [], None, {"k": float("inf")}],
    "idempotency_key": ["k1", "k2", "", "x" * 201, "\x00", None, 5, "\ud800"],
}


def items(values: dict[str, list[Any]]) -> st.SearchStrategy[dict[str, Any]]:
    return st.fixed_dictionaries(
        {}, optional={name: st.sampled_from(choices) for name, choices in values.items()}
    )


@settings(max_examples=400, deadline=None)
@given(
    options=st.lists(items(OPTION_VALUES), min_size=1, max_size=3),
    own=st.lists(items(OWN_VALUES), min_size=1, max_size=12),
)
def test_bulk_items_that_repeat_options_read_as_json_reads_them(
    options: list[dict[str, Any]], own: list[dict[str, Any]]
) -> None:
    body_items = [
        {"task": "app.add", **options[n % len(options)], **mine} for n, mine in enumerate(own)
    ]
    body = json.dumps(body_items, ensure_ascii=False).encode("utf-8", "surrogatepass")
    assert fast(body) == standard(body)


def test_a_plain_body_is_not_read_by_json(monkeypatch: pytest.MonkeyPatch) -> None:
    def refuse(body: bytes) -> Any:
        raise AssertionError("read by json")

    monkeypatch.setattr(schemas, "parse_json", refuse)
    body = b'[{"task": "app.add", "args": [1, {"a": "b"}]}, {"task": "app.add", "args": [2]}]'
    jobs, bulk = parse_submission_body(body, max_bulk=MAX_BULK)
    assert bulk and [job.to_spec(None).args for job in jobs] == [[1, {"a": "b"}], [2]]


def test_digits_inside_strings_do_not_send_a_body_to_json(monkeypatch: pytest.MonkeyPatch) -> None:
    """A client's random hex keys hold runs of 19 decimal digits in most bulks: only a number
    sends a body down json's (slower) path, not digits inside a string."""

    def refuse(body: bytes) -> Any:
        raise AssertionError("read by json")

    monkeypatch.setattr(schemas, "parse_json", refuse)
    keys = [f"rota-client-{n:032d}" for n in range(1, 4)]
    body = json.dumps(
        [
            {"task": "app.add", "idempotency_key": key, "args": ["1234567890123456789012"]}
            for key in keys
        ]
    ).encode()
    jobs, bulk = parse_submission_body(body, max_bulk=MAX_BULK)
    assert bulk and [job.to_spec(None).idempotency_key for job in jobs] == keys


LONG_NUMBER = re.compile(rb"(?:^|[\[,:\s])-?[0-9]{19}")
"""What a number orjson may misread looks like: 19 digits at a number's start (RFC 8259)."""


@settings(max_examples=2000)
@given(
    st.binary(max_size=48)
    | st.lists(st.sampled_from(list(b'0123456789-[,: \t\n\r\x0b\x0ca"')), max_size=48).map(bytes)
)
def test_the_long_number_check_finds_what_the_pattern_finds(body: bytes) -> None:
    assert has_long_number(body) == (LONG_NUMBER.search(body) is not None)


@pytest.mark.parametrize(
    "body",
    [
        b"1234567890123456789",
        b"-1234567890123456789",
        b"[1234567890123456789]",
        b'{"n":\x0b-1234567890123456789}',
        b"a1234567890123456789",
        b"123456789012345678",
        b'["k-1234567890123456789"]',
        b":-123456789012345678",
    ],
)
def test_the_long_number_check_on_edges(body: bytes) -> None:
    assert has_long_number(body) == (LONG_NUMBER.search(body) is not None)


async def test_every_field_of_a_bulk_item_round_trips(client: httpx.AsyncClient) -> None:
    item = {
        "task": "rota.echo",
        "args": [1, -2.5, "é \U0001f600", None, True, [[]], {"k": {}}],
        "kwargs": {"x": [3, {"y": None}], "é": "\x00"},
        "queue": "q-1",
        "priority": -7,
        "run_at": "2030-05-06T07:08:09.123456+02:00",
        "max_attempts": 9,
        "timeout": 12.5,
        "deadline": "2031-01-01T00:00:00Z",
        "idempotency_key": "key-é",
        "target": "gpu",
        "backoff": {"base_s": 0.5, "factor": 3, "max_s": 60, "jitter": 0.25},
    }
    response = await client.post("/api/v1/jobs", json=[item, {"task": "rota.echo"}])
    assert response.status_code == 201, response.text
    made = response.json()
    stored = (await client.get(f"/api/v1/jobs/{made[0]['id']}")).json()
    assert made[0] == stored
    expected = {
        **{name: item[name] for name in ("task", "args", "kwargs", "queue", "priority")},
        "run_at": "2030-05-06T05:08:09.123456+00:00",
        "max_attempts": 9,
        "timeout_s": 12.5,
        "deadline_at": "2031-01-01T00:00:00+00:00",
        "idempotency_key": "key-é",
        "target": "gpu",
        "backoff": {"base_s": 0.5, "factor": 3.0, "max_s": 60.0, "jitter": 0.25},
    }
    assert {name: stored[name] for name in expected} == expected
