"""A single submission on PostgreSQL: one statement before its answer, and a warning that
follows the workers other servers register, through the change feed."""

from __future__ import annotations

import asyncio
import contextvars
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import UTC, datetime
from typing import Any

import httpx
import pytest

from rota.server.app import create_app
from rota.store.base import WorkerInfo
from rota.store.feed import Change, WorkersChanged
from rota.store.postgres import PostgresStore
from tests.contract.postgres import stores_on_one_schema
from tests.server.conftest import MakeSettings

pytestmark = pytest.mark.postgres

OpenStore = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def open_store() -> AsyncIterator[OpenStore]:
    """Open stores on one schema, as several servers would; all closed at the end."""
    async with stores_on_one_schema() as open_one:
        yield open_one


COUNTED: contextvars.ContextVar[bool] = contextvars.ContextVar("counted", default=True)


class Statements:
    """Records the SQL a store sends from tasks started where COUNTED is true (the server's
    loops are started with it false), but the feed relay's NOTIFYs (sent for the other
    servers in statements of their own, off the answer's path) and the driver's type
    introspection (once per connection and type)."""

    def __init__(self, store: PostgresStore) -> None:
        self.sent: list[str] = []
        runner = store._runner
        run = runner.run

        async def counted(work: Callable[[Any], Awaitable[Any]], *, retry: bool) -> Any:
            if not COUNTED.get():
                return await run(work, retry=retry)

            async def logged(conn: Any) -> Any:
                conn.add_query_logger(self._log)
                try:
                    return await work(conn)
                finally:
                    conn.remove_query_logger(self._log)

            return await run(logged, retry=retry)

        runner.run = counted  # type: ignore[method-assign]

    def _log(self, record: Any) -> None:
        query = record.query.lstrip()
        relayed = query.startswith("SELECT pg_notify(")
        driver = "typeinfo_tree" in query or "current_setting('jit')" in query
        if not relayed and not driver:
            self.sent.append(query)


def worker(name: str, task: str = "app.add") -> WorkerInfo:
    return WorkerInfo(
        name=name, queues=["default"], tasks=[task], server="s2", connected_at=datetime.now(UTC)
    )


async def test_a_single_submit_sends_one_statement_and_no_transaction(
    open_store: OpenStore, make_settings: MakeSettings
) -> None:
    store = await open_store()
    purged = asyncio.Event()
    purge = store.purge

    async def purge_and_tell(before: datetime) -> int:
        try:
            return await purge(before)
        finally:
            purged.set()

    store.purge = purge_and_tell  # type: ignore[method-assign]
    app = create_app(make_settings(strict_tasks=False, reaper_interval_s=3600.0), store)
    COUNTED.set(False)  # the server's loops start with it false
    async with app.router.lifespan_context(app):
        COUNTED.set(True)
        async with asyncio.timeout(10):
            await purged.wait()  # the retention loop's first round drops the workers list
        transport = httpx.ASGITransport(app)
        async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
            for _ in range(3):  # the workers list is read, the connections warm up
                first = await http.post("/api/v1/jobs", json={"task": "app.add"})
                assert first.status_code == 201, first.text
            statements = Statements(store)
            for number in range(5):
                answer = await http.post("/api/v1/jobs", json={"task": "app.add", "args": [number]})
                assert answer.status_code == 201, answer.text
                assert answer.json()["warning"] == "no worker is online"
            sent = list(statements.sent)
            statements.sent.clear()
            for number in range(5):
                job = {"task": "app.add", "args": [number], "idempotency_key": f"k{number}"}
                answer = await http.post("/api/v1/jobs", json=job)
                assert answer.status_code == 201, answer.text
            keyed = list(statements.sent)
    assert len(sent) == 5, "\n---\n".join(sql[:150] for sql in sent)
    assert all("INSERT INTO jobs" in sql for sql in sent)
    # With an idempotency key (the client always sends one): the insert, and the store's
    # clock, read before it to tell a new job from a repeat; no BEGIN, no COMMIT.
    assert len(keyed) == 10, "\n---\n".join(sql[:150] for sql in keyed)
    assert sum("INSERT INTO jobs" in sql for sql in keyed) == 5


async def test_a_worker_another_server_registers_clears_the_warning(
    open_store: OpenStore,
) -> None:
    here, there = await open_store(), await open_store()
    here._workers.max_age_s = 3600.0  # only the notice may drop the kept list
    heard = asyncio.Event()

    def hear(changes: list[Change] | Any) -> None:
        if any(isinstance(change, WorkersChanged) for change in changes):
            heard.set()

    assert await here.list_workers() == []
    statements = Statements(here)
    assert await here.list_workers() == [], "kept: no statement"
    assert statements.sent == []
    here.feed.subscribe(hear)
    await there.register_worker(worker("w1"))
    async with asyncio.timeout(10):
        await heard.wait()
    assert [info.name for info in await here.list_workers()] == ["w1"]
    heard.clear()
    await there.worker_gone("w1")
    async with asyncio.timeout(10):
        await heard.wait()
    assert [info.state for info in await here.list_workers()] == ["offline"]


async def test_a_workers_list_is_kept_no_longer_than_its_age(open_store: OpenStore) -> None:
    here = await open_store()
    here._workers.max_age_s = 0.0
    await here.list_workers()
    statements = Statements(here)
    await here.list_workers()
    assert len(statements.sent) == 1, "read again once too old"


async def test_a_local_worker_write_drops_the_list_at_once(open_store: OpenStore) -> None:
    here = await open_store()
    here._workers.max_age_s = 3600.0
    assert await here.list_workers() == []
    await here.register_worker(worker("w1"))
    assert [info.name for info in await here.list_workers()] == ["w1"]
