"""Property: through the real HTTP API of a real server with a real worker, any submission
that is accepted can be read back, listed, run and its result read; any that is refused is
a 4xx that stores nothing. Values are drawn to hit every rule: lone surrogates in strings and
keys, deep nesting, integers past every limit, floats, unicode keys."""

from __future__ import annotations

import json
import math
from typing import Any

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from tests.e2e.conftest import Cluster

JOBS = "/api/v1/jobs"
SAFE = 2**53 - 1
DEPTH = 64

# Mostly text of any script; now and then with lone surrogates, which hypothesis leaves out
# unless told.
plain_text = st.text(max_size=8)
odd_text = st.text(
    st.characters(exclude_categories=[])
    | st.characters(min_codepoint=0xD800, max_codepoint=0xDFFF, exclude_categories=[]),
    min_size=1,
    max_size=4,
)
text = st.one_of(plain_text, plain_text, plain_text, odd_text)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-SAFE, max_value=SAFE),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=False, allow_infinity=False),
    text,
)
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=3) | st.dictionaries(text, children, max_size=3),
    max_leaves=8,
)


def nest(levels: int, inner: Any) -> Any:
    for level in range(levels):
        inner = [inner] if level % 3 else {"k\u00e9": inner}
    return inner


deep_values = st.builds(nest, st.integers(min_value=DEPTH - 4, max_value=DEPTH + 40), scalars)
arguments = st.lists(st.one_of(values, deep_values), max_size=3)
named = st.dictionaries(text, st.one_of(values, deep_values), max_size=2)


def acceptable(value: Any, depth: int = 0) -> bool:
    """The rules, written out independently of rota.values: `depth` containers around the
    value already (an argument sits in two: {"args": [...]})."""
    if isinstance(value, str):
        return not any(0xD800 <= ord(char) <= 0xDFFF for char in value)
    if isinstance(value, bool) or value is None:
        return True
    if isinstance(value, int):
        return -SAFE <= value <= SAFE
    if isinstance(value, float):
        return math.isfinite(value)
    if isinstance(value, list):
        return depth < DEPTH and all(acceptable(item, depth + 1) for item in value)
    return depth < DEPTH and all(
        acceptable(key) and acceptable(item, depth + 1) for key, item in value.items()
    )


@pytest.fixture
def running_cluster(cluster: Cluster) -> Cluster:
    """One server and one worker for all the examples of a test."""
    cluster.start_server()
    cluster.start_worker("w1", concurrency=2)
    return cluster


def echoed(args: list[Any], kwargs: dict[str, Any]) -> Any:
    """What rota.echo returns for these arguments."""
    return args[0] if len(args) == 1 and not kwargs else {"args": args, "kwargs": kwargs}


@settings(
    max_examples=100,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)
@given(args=arguments, kwargs=named)
def test_what_is_accepted_can_be_read_listed_and_run(
    running_cluster: Cluster, args: list[Any], kwargs: dict[str, Any]
) -> None:
    cluster = running_cluster
    before = cluster.count_jobs()
    body = json.dumps({"task": "rota.echo", "args": args, "kwargs": kwargs})  # ASCII escapes
    response = cluster.request(
        "POST", JOBS, content=body.encode(), headers={"content-type": "application/json"}
    )
    assert response.status_code < 500, response.text
    should_accept = all(acceptable(item, 2) for item in args) and all(
        acceptable(key) and acceptable(item, 2) for key, item in kwargs.items()
    )
    event("accepted" if response.status_code == 201 else "refused")
    if response.status_code != 201:
        assert not should_accept, response.text
        assert response.status_code in (400, 422), response.text
        message = response.json()["error"]["message"]
        assert message.startswith(("args", "kwargs")), message
        assert cluster.count_jobs() == before
        return
    assert should_accept
    job = response.json()
    assert (job["args"], job["kwargs"]) == (args, kwargs)

    shown = cluster.job(job["id"])
    assert (shown["args"], shown["kwargs"]) == (args, kwargs)
    listed = cluster.get(JOBS, params={"limit": 5})["jobs"]
    assert [(item["args"], item["kwargs"]) for item in listed if item["id"] == job["id"]] == [
        (args, kwargs)
    ]
    done = cluster.wait_finished(job["id"])
    assert done["state"] == "succeeded", done
    assert done["result"] == echoed(args, kwargs)
