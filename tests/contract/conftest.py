"""The store under test: every contract test runs once per backend.

A backend is a function that opens a store on the test's own database; calling it again
opens another store on the same database (to test durability across a reopen). To add a
backend, add one entry to BACKENDS.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from rota.clock import ManualClock
from rota.store import Store
from rota.store.memory import MemoryStore
from rota.store.memory_data import MemoryData
from rota.store.sqlite import SqliteStore
from tests.contract.postgres import postgres_backend

OpenStore = Callable[[], Awaitable[Store]]


def _sqlite(tmp_path: Path, clock: ManualClock) -> OpenStore:
    async def open_store() -> Store:
        store = SqliteStore(tmp_path / "rota.db", clock=clock)
        await store.open()
        return store

    return open_store


def _memory(tmp_path: Path, clock: ManualClock) -> OpenStore:
    data = MemoryData()  # what every store the test opens shares: its "database"

    async def open_store() -> Store:
        store = MemoryStore(clock=clock, data=data)
        await store.open()
        return store

    return open_store


BACKENDS: dict[str, Callable[[Path, ManualClock], OpenStore]] = {
    "memory": _memory,
    "sqlite": _sqlite,
    "postgres": postgres_backend,
}


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture(params=sorted(BACKENDS))
def open_store(request: pytest.FixtureRequest, tmp_path: Path, clock: ManualClock) -> OpenStore:
    factory = BACKENDS[request.param]
    return factory(tmp_path, clock)


@pytest.fixture
async def store(open_store: OpenStore) -> AsyncIterator[Store]:
    opened = await open_store()
    try:
        yield opened
    finally:
        await opened.close()
