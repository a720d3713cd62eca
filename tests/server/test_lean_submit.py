"""POST /api/v1/jobs takes the lean path (rota.server.lean) and answers exactly as the full
middleware stack and the FastAPI route do, refusals included."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import httpx
import pytest
from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from rota.server import lean
from rota.server.api import jobs as jobs_api
from tests.server.conftest import MakeSettings

VARYING = ("id", "created_at", "updated_at", "run_at", "idempotency_key")


class FullStack:
    """The same app, every request through FastAPI's stack (the lean path skipped)."""

    def __init__(self, app: FastAPI) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        await FastAPI.__call__(self.app, scope, receive, send)


@pytest.fixture
def settings(make_settings: MakeSettings) -> Any:
    return make_settings(strict_tasks=False, max_body_bytes=2000, max_bulk=3)


@pytest.fixture
async def full(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(FullStack(app))
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


def comparable(response: httpx.Response) -> tuple[int, str, Any]:
    body = response.json()
    for job in body if isinstance(body, list) else [body]:
        if isinstance(job, dict):
            for name in VARYING:
                job.pop(name, None)
    return response.status_code, response.headers["content-type"], body


JSON = {"content-type": "application/json"}
REQUESTS: list[tuple[str, dict[str, Any]]] = [
    ("one job", {"json": {"task": "app.add", "args": [1, 2], "priority": 5}}),
    ("a list", {"json": [{"task": "app.add"}, {"task": "app.mul", "queue": "q2"}]}),
    ("a delay and a target", {"json": {"task": "app.add", "delay": 30, "target": "gpu"}}),
    ("an unknown field", {"json": {"task": "app.add", "colour": "red"}}),
    ("a bad priority", {"json": {"task": "app.add", "priority": 10_000}}),
    ("an integer past 2**53", {"json": {"task": "app.add", "args": [2**70]}}),
    ("floats and text", {"json": {"task": "app.add", "args": [1e-7, 1.5e300, "é ✓ \u2028"]}}),
    ("a bad task name", {"json": {"task": "not a name"}}),
    ("run_at and delay", {"json": {"task": "app.add", "delay": 1, "run_at": "2030-01-01T00:00Z"}}),
    ("a NaN", {"content": b'{"task": "app.add", "args": [NaN]}', "headers": JSON}),
    ("not JSON", {"content": b"{task", "headers": JSON}),
    ("an empty body", {"content": b"", "headers": JSON}),
    ("neither object nor list", {"json": 5}),
    ("an empty list", {"json": []}),
    ("too many jobs", {"json": [{"task": "app.add"}] * 4}),
    ("a large body", {"json": {"task": "app.add", "args": ["x" * 3000]}}),
    ("a NUL in the query", {"json": {"task": "app.add"}, "params": {"x": "a\x00b"}}),
    ("not UTF-8", {"content": b'{"task": "app.add", "args": ["\xff"]}', "headers": JSON}),
    ("a lone surrogate", {"content": b'{"task": "app.add", "args": ["\\ud800"]}', "headers": JSON}),
]


@pytest.mark.parametrize(("what", "request_args"), REQUESTS, ids=[r[0] for r in REQUESTS])
async def test_the_lean_path_answers_as_the_full_stack(
    client: httpx.AsyncClient,
    full: httpx.AsyncClient,
    what: str,
    request_args: dict[str, Any],
) -> None:
    lean_answer = await client.post("/api/v1/jobs", **request_args)
    full_answer = await full.post("/api/v1/jobs", **request_args)
    assert comparable(lean_answer) == comparable(full_answer), what


MINIMAL = {"Prefer": "return=minimal"}


@pytest.mark.parametrize(
    ("what", "request_args"),
    [
        ("a list", {"json": [{"task": "app.add"}, {"task": "app.mul", "args": [2]}]}),
        ("one job", {"json": {"task": "app.add", "args": [1, 2]}}),
        ("a bad item", {"json": [{"task": "app.add"}, {"task": "app.add", "priority": 10_000}]}),
    ],
    ids=["a list", "one job", "a bad item"],
)
async def test_both_paths_answer_a_minimal_preference_alike(
    client: httpx.AsyncClient, full: httpx.AsyncClient, what: str, request_args: dict[str, Any]
) -> None:
    lean_answer = await client.post("/api/v1/jobs", headers=MINIMAL, **request_args)
    full_answer = await full.post("/api/v1/jobs", headers=MINIMAL, **request_args)
    assert comparable(lean_answer) == comparable(full_answer), what
    applied = "return=minimal" if lean_answer.status_code == 201 else None
    assert lean_answer.headers.get("preference-applied") == applied
    assert full_answer.headers.get("preference-applied") == applied


async def test_the_lean_path_is_taken(
    client: httpx.AsyncClient, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen: list[str] = []
    real = lean.lean_submit

    async def counted(*args: Any) -> None:
        seen.append("lean")
        await real(*args)

    monkeypatch.setattr("rota.server.app.lean_submit", counted)
    assert (await client.post("/api/v1/jobs", json={"task": "app.add"})).status_code == 201
    assert (await client.get("/api/v1/jobs")).status_code == 200
    assert (await client.post("/api/v1/jobs/", json={"task": "app.add"})).status_code != 201
    assert seen == ["lean"]


async def test_a_bad_content_length_and_a_chunked_large_body(client: httpx.AsyncClient) -> None:
    bad = await client.post(
        "/api/v1/jobs", content=b"{}", headers={**JSON, "content-length": "lots"}
    )
    assert (bad.status_code, bad.json()["error"]["type"]) == (400, "InvalidInput")

    async def chunks() -> AsyncIterator[bytes]:
        for _ in range(3):
            yield b" " * 1000

    large = await client.post("/api/v1/jobs", content=chunks(), headers=JSON)
    assert (large.status_code, large.json()["error"]["type"]) == (413, "BodyTooLarge")


async def test_an_unexpected_error_is_a_logged_500(
    client: httpx.AsyncClient,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    async def broken(*args: Any) -> Any:
        raise KeyError("boom")

    monkeypatch.setattr(lean, "submitted", broken)
    with caplog.at_level(logging.ERROR, logger="rota.server"):
        answer = await client.post("/api/v1/jobs", json={"task": "app.add"})
    assert answer.status_code == 500
    assert answer.json()["error"]["type"] == "InternalError"
    assert "unexpected error in POST '/api/v1/jobs'" in caplog.text
    assert jobs_api.submitted is not broken


def test_an_answer_holding_an_integer_past_64_bits_is_still_written() -> None:
    # A job stored before the value rules (an idempotent repeat answers with it) may hold
    # one; orjson refuses it and the standard library writes it.
    assert (
        lean._json_bytes({"args": [2**70, "é"]}) == '{"args":[1180591620717411303424,"é"]}'.encode()
    )
