"""A submission's new jobs are made from the parameters inserted, at less cost than reading
them as rows would take, and equal to that: the same jobs, the same fingerprints."""

from __future__ import annotations

import json
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from rota.jobs import JobSpec
from rota.retry import Backoff
from rota.store.common import (
    DEFAULT_BACKOFF_TEXT,
    Fingerprints,
    dump_json,
    fingerprint,
    load_backoff,
    load_dict,
    load_list,
    spec_params,
    to_us,
)
from rota.store.sqlite_rows import NewJobMoments, new_job, new_job_row, row_to_job

NOW = datetime(2030, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)

SPECS = [
    JobSpec(task="app.a"),
    JobSpec(task="app.a", idempotency_key="k"),
    JobSpec(task="app.a", args=[1, "é", {"x": [2.5, None]}], kwargs={"k": True}),
    JobSpec(task="app.a", backoff=Backoff(base_s=1, factor=2, max_s=300, jitter=0.25)),
    JobSpec(task="app.a", backoff=Backoff()),
    JobSpec(task="app.a", priority=5, queue="q", target="gpu", max_attempts=9, timeout_s=2),
    JobSpec(task="app.a", timeout_s=2.0),
    JobSpec(
        task="app.a",
        run_at=NOW + timedelta(seconds=3),
        deadline_at=NOW + timedelta(days=1),
        schedule_id="s1",
    ),
]


@pytest.mark.parametrize("spec", SPECS, ids=range(len(SPECS)))
def test_a_new_job_is_the_row_it_inserts(spec: JobSpec) -> None:
    params = spec_params(0, spec, "0190f5c2-0000-7000-8000-000000000001", to_us(NOW))
    made = new_job(params, NewJobMoments(to_us(NOW)))
    expected = row_to_job(new_job_row(params))
    assert made == expected
    for name in ("args", "kwargs", "backoff", "timeout_s", "priority", "run_at"):
        assert type(getattr(made, name)) is type(getattr(expected, name)), name


def test_fingerprints_kept_for_a_submission_are_the_ones_computed() -> None:
    known: Fingerprints = {}
    for spec in SPECS * 2:
        assert fingerprint(spec, known) == fingerprint(spec)
    assert known  # specs without arguments were kept


def test_stored_json_is_as_json_dumps_writes_it() -> None:
    values: list[Any] = [[], {}, [1, "é", None], {"b": 1, "a": [2.5]}, "\ud800", [10**30]]
    for value in values:
        assert dump_json(value, "x") == json.dumps(value, separators=(",", ":"), allow_nan=False)
    assert DEFAULT_BACKOFF_TEXT == dump_json(
        {"base_s": 1.0, "factor": 2.0, "max_s": 300.0, "jitter": 0.25}, "backoff"
    )


def test_stored_arguments_and_backoff_read_as_json_reads_them() -> None:
    for text in ("[]", '[1,"a"]', "[ ]"):
        assert load_list(text) == json.loads(text)
    for text in ("{}", '{"k":[1]}'):
        assert load_dict(text) == json.loads(text)
    assert load_list("[]") is not load_list("[]")  # each job its own list
    for policy in (Backoff(), Backoff(base_s=1, factor=3, max_s=9, jitter=0)):
        text = dump_json(
            {
                "base_s": policy.base_s,
                "factor": policy.factor,
                "max_s": policy.max_s,
                "jitter": policy.jitter,
            },
            "backoff",
        )
        loaded = load_backoff(text)
        assert loaded == Backoff(**json.loads(text))
        assert [type(v) for v in vars_of(loaded)] == [type(v) for v in vars_of(policy)]


def vars_of(policy: Backoff) -> list[Any]:
    return [policy.base_s, policy.factor, policy.max_s, policy.jitter]
