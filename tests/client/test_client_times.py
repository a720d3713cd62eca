"""The client checks times and spans before it sends, with the server's own range."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta, timezone
from typing import Any

import httpx
import pytest

from rota import AsyncClient
from rota.errors import InvalidInput

TOO_LATE = datetime(9999, 12, 31, 23, 59, 59, tzinfo=timezone(timedelta(hours=-1)))
TOO_EARLY = datetime(1, 1, 1, 0, 30, tzinfo=timezone(timedelta(hours=1)))


def recording_client(sent: list[httpx.Request]) -> AsyncClient:
    def answer(request: httpx.Request) -> httpx.Response:
        sent.append(request)
        return httpx.Response(201, json={"id": "x"})

    return AsyncClient("http://rota.test", transport=httpx.MockTransport(answer))


Call = Callable[[AsyncClient], Any]
CALLS: list[tuple[str, Call, str]] = [
    ("run_at late", lambda c: c.submit("rota.echo", run_at=TOO_LATE), "run_at"),
    ("run_at early", lambda c: c.submit("rota.echo", run_at=TOO_EARLY), "run_at"),
    ("deadline", lambda c: c.submit("rota.echo", deadline=TOO_LATE), "deadline"),
    ("delay huge", lambda c: c.submit("rota.echo", delay=1e300), "delay"),
    ("delay inf", lambda c: c.submit("rota.echo", delay=float("inf")), "delay"),
    ("delay nan", lambda c: c.submit("rota.echo", delay=float("nan")), "delay"),
    ("timeout", lambda c: c.submit("rota.echo", timeout=timedelta(days=4000)), "timeout"),
    ("patch run_at", lambda c: c.update("x", run_at=TOO_LATE), "run_at"),
    ("patch delay", lambda c: c.update("x", delay=float("inf")), "delay"),
    ("bulk", lambda c: c.submit_many([{"task": "rota.echo", "run_at": TOO_EARLY}]), "run_at"),
    (
        "schedule start",
        lambda c: c.add_schedule("s", "rota.echo", interval=60, start_at=TOO_LATE),
        "start_at",
    ),
    ("schedule interval", lambda c: c.add_schedule("s", "rota.echo", interval=1e300), "interval"),
    (
        "schedule jitter",
        lambda c: c.add_schedule("s", "rota.echo", cron="* * * * *", jitter=-1),
        "jitter",
    ),
    ("schedule patch", lambda c: c.update_schedule("s", end_at=TOO_EARLY), "end_at"),
]


@pytest.mark.parametrize(
    ("call", "field"), [(c, f) for _, c, f in CALLS], ids=[i for i, _, _ in CALLS]
)
async def test_a_time_or_span_out_of_range_is_refused_before_sending(
    call: Call, field: str
) -> None:
    sent: list[httpx.Request] = []
    async with recording_client(sent) as client:
        with pytest.raises(InvalidInput, match=rf"^{field}: must be"):
            await call(client)
    assert sent == []


async def test_times_in_range_are_sent_in_utc_offsets_kept() -> None:
    sent: list[httpx.Request] = []
    moment = datetime(2030, 1, 31, 9, 0, tzinfo=UTC)
    async with recording_client(sent) as client:
        await client.submit("rota.echo", run_at=moment, delay=None, timeout=timedelta(seconds=5))
    assert b'"run_at":"2030-01-31T09:00:00+00:00"' in sent[0].content
    assert b'"timeout":5.0' in sent[0].content
