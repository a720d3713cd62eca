"""Fixtures of the worker tests: a fake server on a free port and a way to start workers."""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Callable
from typing import Any

import pytest
from worker_fake_server import FakeServer, WorkerRun, make_registry

from rota.clock import SYSTEM_CLOCK
from rota.settings import settings_of
from rota.tasks.registry import TaskRegistry
from rota.worker.runtime import Worker


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_worker(
    server: FakeServer,
) -> AsyncIterator[Callable[..., WorkerRun]]:
    runs: list[WorkerRun] = []

    def start(registry: TaskRegistry | None = None, **overrides: Any) -> WorkerRun:
        fields: dict[str, Any] = {
            "server": [server.url],
            "name": "w1",
            "concurrency": 2,
            "drain_grace_s": 5.0,
        }
        clock = overrides.pop("clock", SYSTEM_CLOCK)
        fields.update(overrides)
        lines: list[str] = []
        worker = Worker(
            settings_of(fields), registry or make_registry(), report=lines.append, clock=clock
        )
        run = WorkerRun(worker, lines)
        runs.append(run)
        return run

    yield start
    for run in runs:
        run.worker.request_stop()
        with contextlib.suppress(Exception):
            await run.finish()
