"""A task's exception is reported with its type and traceback, whatever the exception does."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import worker_error_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

from rota.safe_text import describe_exception, format_traceback

Start = Callable[..., WorkerRun]


@pytest.mark.parametrize("task", ["t.unprintable", "t.async_unprintable", "t.isolated_unprintable"])
async def test_an_exception_whose_str_raises_keeps_its_type_and_traceback(
    server: FakeServer, start_worker: Start, task: str
) -> None:
    start_worker(make_registry(worker_error_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", task))
    failure = await server.wait_message("failure", "j1")
    assert failure["error"] == (
        "Unprintable: <str() failed: RuntimeError: this exception cannot be printed>"
    )
    assert "worker error" not in failure["error"]
    assert "raise Unprintable" in failure["traceback"]
    assert "Unprintable" in failure["traceback"].splitlines()[-1]
    assert failure["retryable"] is True


def test_describing_an_exception_never_raises() -> None:
    class NoText(Exception):
        pass

    assert describe_exception(NoText()) == "NoText"
    assert describe_exception(KeyError("missing")) == "KeyError: 'missing'"
    try:
        raise worker_error_tasks.Unprintable
    except worker_error_tasks.Unprintable as exc:
        text = format_traceback(exc)
    assert text.startswith("Traceback (most recent call last):")
    assert "Unprintable" in text
