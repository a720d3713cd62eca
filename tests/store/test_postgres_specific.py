"""What only the PostgreSQL store promises: wake-ups, several servers on one schema,
migrations under concurrency, the database's clock, and riding out outages."""

from __future__ import annotations

import asyncio
import json
import re
import time
from collections import Counter
from collections.abc import AsyncIterator, Awaitable, Callable
from datetime import timedelta
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from rota.clock import ManualClock
from rota.errors import InvalidInput, ServerUnavailable
from rota.jobs import JobSpec, JobState, Lease
from rota.store import AcquireRequest, JobQuery
from rota.store.postgres import PostgresStore
from rota.store.postgres_batch import acquire_params
from rota.store.postgres_conn import ConnectionRunner
from rota.store.postgres_sql import load_compiled
from rota.store.queries import load_migrations
from tests.contract.postgres import drop_schemas, make_postgres_store, postgres_server
from tests.store.tcp_relay import TcpRelay

pytestmark = pytest.mark.postgres

OpenStore = Callable[..., Awaitable[PostgresStore]]
TASK = "tests.work"


@pytest.fixture
def dsn() -> str:
    return postgres_server().dsn


@pytest.fixture
async def schema(dsn: str) -> AsyncIterator[str]:
    name = postgres_server().new_schema()
    yield name
    await drop_schemas(dsn, [name])


@pytest.fixture
async def open_store(dsn: str, schema: str) -> AsyncIterator[OpenStore]:
    """Open stores on the test's schema (as several servers would); all closed at the end."""
    stores: list[PostgresStore] = []

    async def open_one(**options: Any) -> PostgresStore:
        store = PostgresStore(options.pop("dsn", dsn), schema=schema, **options)
        await store.open()
        stores.append(store)
        return store

    yield open_one
    for store in stores:
        await store.close()


@pytest.fixture
async def admin(dsn: str) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(dsn)
    yield conn
    await conn.close()


def spec(**fields: Any) -> JobSpec:
    fields.setdefault("task", TASK)
    return JobSpec(**fields)


def request(worker: str = "w1", **fields: Any) -> AcquireRequest:
    fields.setdefault("queues", ["default"])
    return AcquireRequest(worker=worker, **fields)


# --- wake-ups ------------------------------------------------------------------------------


async def test_a_submission_wakes_a_waiting_store(open_store: OpenStore) -> None:
    sender, waiter = await open_store(), await open_store()
    assert await waiter.wait_for_work(0.05) is False  # nothing happened yet
    waiting = asyncio.create_task(waiter.wait_for_work(5))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await sender.submit([spec()])
    assert await asyncio.wait_for(waiting, 2) is True


async def test_a_wake_up_between_two_waits_is_kept(open_store: OpenStore) -> None:
    sender, waiter = await open_store(), await open_store()
    job = (await sender.submit([spec()]))[0]
    claimed = (await sender.acquire(request()))[0]
    assert claimed.lease_token is not None
    await asyncio.sleep(0.1)  # the notification arrives while nobody waits
    assert await waiter.wait_for_work(2) is True
    assert await waiter.wait_for_work(0.05) is False  # one wake-up, not a queue of them
    await sender.release(Lease(job_id=job.id, token=claimed.lease_token))
    assert await waiter.wait_for_work(2) is True


async def test_other_schemas_are_neither_woken_nor_seen(
    open_store: OpenStore, dsn: str, schema: str
) -> None:
    other_schema = postgres_server().new_schema()
    other = PostgresStore(dsn, schema=other_schema)
    await other.open()
    try:
        ours = await open_store()
        await ours.submit([spec(args=["ours"])])
        assert await other.wait_for_work(0.2) is False
        assert (await other.list_jobs(JobQuery())).jobs == []
        assert [job.args for job in (await ours.list_jobs(JobQuery())).jobs] == [["ours"]]
    finally:
        await other.close()
        await drop_schemas(dsn, [other_schema])


# --- several servers on one schema ---------------------------------------------------------


async def test_two_stores_racing_claim_each_of_500_jobs_once(open_store: OpenStore) -> None:
    first, second = await open_store(pool_max=4), await open_store(pool_max=4)
    await first.submit([spec(args=[n]) for n in range(500)])
    claims: Counter[str] = Counter()

    async def drain(store: PostgresStore, worker: str) -> None:
        while jobs := await store.acquire(request(worker, limit=7)):
            claims.update(job.id for job in jobs)

    # Four claimers per store, all at once.
    await asyncio.gather(*(drain(s, f"w{n}") for n in range(4) for s in (first, second)))
    assert len(claims) == 500 and set(claims.values()) == {1}
    running = await second.list_jobs(JobQuery(state=JobState.RUNNING, limit=1000))
    assert len(running.jobs) == 500 and {job.attempt for job in running.jobs} == {1}


async def test_two_stores_reaping_at_once_count_each_attempt_once(
    open_store: OpenStore,
) -> None:
    clock = ManualClock()
    first, second = await open_store(clock=clock), await open_store(clock=clock)
    jobs = await first.submit([spec(max_attempts=5) for _ in range(40)])
    await first.acquire(request(limit=40, lease_s=5))
    clock.advance(10)
    reaped = await asyncio.gather(*(s.reap() for s in (first, second, first, second)))
    reaped_ids = [job.id for batch in reaped for job in batch]
    assert sorted(reaped_ids) == sorted(job.id for job in jobs)  # each exactly once
    for job in jobs:
        after = await second.get_job(job.id)
        assert (after.state, after.attempt) == (JobState.PENDING, 1)
        kinds = [event.kind for event in await second.events(job.id)]
        assert kinds == ["submitted", "started", "reaped", "retrying"]


async def test_concurrent_opens_apply_each_migration_once(
    dsn: str, schema: str, admin: asyncpg.Connection
) -> None:
    shipped = len(load_migrations("rota.store.sql.postgres", "migrations"))
    stores = [PostgresStore(dsn, schema=schema) for _ in range(5)]
    applied = await asyncio.gather(*(store.migrate() for store in stores))
    assert sorted(applied) == [0, 0, 0, 0, shipped]
    await asyncio.gather(*(store.open() for store in stores))
    try:
        versions = await admin.fetch(
            "SELECT version FROM " + schema + ".schema_version ORDER BY version"
        )
        assert [row["version"] for row in versions] == list(range(1, shipped + 1))
        assert await stores[0].migrate() == 0
        job = (await stores[1].submit([spec()]))[0]
        assert (await stores[4].get_job(job.id)).id == job.id
    finally:
        for store in stores:
            await store.close()


# --- the database's clock ------------------------------------------------------------------


async def test_without_a_test_clock_the_database_clock_rules(admin: asyncpg.Connection) -> None:
    store, cleanup = await make_postgres_store(None)
    try:
        await _database_clock_rules(store, admin)
    finally:
        await cleanup()


async def _database_clock_rules(store: PostgresStore, admin: asyncpg.Connection) -> None:
    before = await admin.fetchval("SELECT clock_timestamp()")
    job = (await store.submit([spec(max_attempts=2)]))[0]
    after = await admin.fetchval("SELECT clock_timestamp()")
    assert before <= job.run_at == job.created_at <= after
    assert before <= await store.now()
    claimed = (await store.acquire(request(lease_s=42)))[0]
    assert claimed.started_at is not None and claimed.lease_expires_at is not None
    assert claimed.lease_expires_at - claimed.started_at == timedelta(seconds=42)
    assert await store.reap() == []  # the lease runs on the database's time: not expired
    assert claimed.lease_token is not None
    lease = Lease(job_id=job.id, token=claimed.lease_token)
    failed = await store.fail(lease, error="boom", traceback="Traceback: boom")
    assert failed.traceback == "Traceback: boom"
    assert failed.run_at > failed.updated_at >= claimed.started_at
    assert await store.next_run_at() == failed.run_at


async def test_values_the_database_refuses_are_invalid_input(open_store: OpenStore) -> None:
    store = await open_store()
    with pytest.raises(InvalidInput):
        await store.submit([spec(priority=2**70)])
    with pytest.raises(InvalidInput):
        await store.submit([spec(task="nul\x00byte")])
    assert (await store.list_jobs(JobQuery())).jobs == []


# --- indexes -------------------------------------------------------------------------------


async def test_claiming_does_not_scan_finished_jobs(
    open_store: OpenStore, admin: asyncpg.Connection, schema: str
) -> None:
    store = await open_store()
    await admin.execute(f"SET search_path = {schema}")
    await admin.execute(
        """
        INSERT INTO jobs (id, task, args, kwargs, queue, priority, state, run_at, max_attempts,
                          backoff, created_at, updated_at, finished_at)
        SELECT 'done-' || n, 'tests.work', '[]', '{}', 'default', 0, 'succeeded', now(), 3,
               '{}', now(), now(), now()
        FROM generate_series(1, 20000) AS n
        """
    )
    await admin.execute("ANALYZE jobs")
    await store.submit([spec() for _ in range(3)])
    acquire = load_compiled("rota.store.sql.postgres", "queries.sql")["acquire"]
    args = acquire.args({"now": None, **acquire_params(request(limit=5))})
    plan = await admin.fetchval("EXPLAIN (FORMAT JSON) " + acquire.sql, *args)
    # Only an index over pending jobs is read: finished ones are not in it at all.
    assert "Seq Scan" not in plan, plan
    assert re.search(r'"Index Name": "(jobs_claim|jobs_pending_run_at)"', plan), plan
    assert len(await store.acquire(request(limit=5))) == 3


async def test_claiming_does_not_scan_other_queues_backlog(
    open_store: OpenStore, admin: asyncpg.Connection, schema: str
) -> None:
    # 20,000 jobs wait in another queue, due earlier and more urgent: a claim for "default"
    # reads none of them (it once walked them all, in dispatch order, to find its own).
    store = await open_store()
    await admin.execute(f"SET search_path = {schema}")
    await admin.execute(
        """
        INSERT INTO jobs (id, task, args, kwargs, queue, priority, state, run_at, max_attempts,
                          backoff, created_at, updated_at)
        SELECT 'other-' || n, 'tests.work', '[]', '{}', 'other', 9, 'pending',
               now() - interval '1 hour', 3, '{}', now(), now()
        FROM generate_series(1, 20000) AS n
        """
    )
    await admin.execute("ANALYZE jobs")
    mine = await store.submit([spec() for _ in range(3)])
    acquire = load_compiled("rota.store.sql.postgres", "queries.sql")["acquire"]
    args = acquire.args(
        {"now": None, **acquire_params(request(limit=5, queues=["default", "empty"]))}
    )
    trial = admin.transaction()  # EXPLAIN ANALYZE claims for real: undo it
    await trial.start()
    try:
        plan = await admin.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + acquire.sql, *args)
    finally:
        await trial.rollback()
    removed = [int(n) for n in re.findall(r'"Rows Removed by Filter": (\d+)', plan)]
    assert sum(removed) < 100, plan
    assert '"Index Name": "jobs_claim"' in plan, plan
    claimed = await store.acquire(request(limit=5))
    assert sorted(job.id for job in claimed) == sorted(job.id for job in mine)


async def test_a_claim_round_reads_only_the_rows_it_claims(
    open_store: OpenStore, admin: asyncpg.Connection, schema: str
) -> None:
    # 5,000 due jobs in the queue, and no statistics yet (as right after a bulk submit): the
    # claim's update finds its rows where the first step locked them, instead of hashing
    # every pending job (as a join on the id did when the planner thought the table small).
    store = await open_store()
    for _ in range(5):
        await store.submit([spec() for _ in range(1000)])
    claim = load_compiled("rota.store.sql.postgres", "queries.sql")["acquire_many"]
    requests = [
        {"step": n + 1, "position": n, "worker": f"w{n}", "queues": ["default"], "open": True,
         "tags": [], "tasks": None, "wanted": 8, "depth": 8 * (n + 1), "lease_s": 30.0,
         "horizon_s": 0.0, "lead_s": 0.0}
        for n in range(2)
    ]  # fmt: skip
    args = claim.args({"requests": json.dumps(requests), "now": None})
    await admin.execute(f"SET search_path = {schema}")
    trial = admin.transaction()  # EXPLAIN ANALYZE claims for real: undo it
    await trial.start()
    try:
        plan = await admin.fetchval("EXPLAIN (ANALYZE, FORMAT JSON) " + claim.sql, *args)
    finally:
        await trial.rollback()
    assert '"Node Type": "Tid Scan"' in plan, plan
    read = [int(n) for n in re.findall(r'"Actual Rows": (\d+)', plan)]
    removed = [int(n) for n in re.findall(r'"Rows Removed by Filter": (\d+)', plan)]
    assert max(read) <= 32 and sum(removed) < 100, plan
    claimed = await store.acquire_many([request("w0", limit=8), request("w1", limit=8)])
    assert [len(jobs) for jobs in claimed] == [8, 8]


async def test_the_stores_connections_never_compile_queries(dsn: str, schema: str) -> None:
    # A claim's row estimate grows with the backlog, and JIT once compiled every claim
    # (0.3-3 s each with 1M pending jobs): the store turns it off for its connections.
    runner = ConnectionRunner(
        dsn,
        schema=schema,
        pool_min=1,
        pool_max=1,
        connect_timeout_s=5.0,
        command_timeout_s=5.0,
    )
    await runner.start()
    try:
        assert await runner.run(lambda conn: conn.fetchval("SHOW jit"), retry=True) == "off"
        own = await runner.connect()
        try:
            assert await own.fetchval("SHOW jit") == "off"
        finally:
            await own.close()
    finally:
        await runner.stop()


async def test_a_connection_the_driver_cannot_use_is_closed_and_a_read_runs_again(
    dsn: str, schema: str
) -> None:
    """A pooled connection that the server ended while it sat idle can be caught closing:
    the driver refuses to start a statement on it (InternalClientError, seen in CI after
    pg_terminate_backend). The store closes it, the pool opens another, a read runs again;
    a write, whose outcome the store cannot know in general, is answered as unavailable."""
    runner = ConnectionRunner(
        dsn, schema=schema, pool_min=1, pool_max=1, connect_timeout_s=5.0, command_timeout_s=5.0
    )
    await runner.start()
    used: list[Any] = []

    async def first_refused(conn: Any) -> int:
        used.append(conn._con)  # the connection itself, past the pool's proxy
        if len(used) == 1:
            raise asyncpg.exceptions.InternalClientError("cannot switch to state 11")
        return int(await conn.fetchval("SELECT 1"))

    try:
        assert await runner.run(first_refused, retry=True) == 1
        assert used[0].is_closed() and used[1] is not used[0]
        used.clear()
        with pytest.raises(ServerUnavailable):
            await runner.run(first_refused, retry=False)
        assert used[0].is_closed()
    finally:
        await runner.stop()


# --- outages -------------------------------------------------------------------------------


async def test_a_store_survives_its_connections_being_terminated(
    open_store: OpenStore, admin: asyncpg.Connection, schema: str
) -> None:
    store, sender = await open_store(), await open_store()
    job = (await store.submit([spec()]))[0]
    assert await store.wait_for_work(2) is True  # its own submission
    pids = [
        row["pid"]
        for row in await admin.fetch(
            "SELECT pid, pg_terminate_backend(pid) FROM pg_stat_activity"
            " WHERE application_name = $1",
            f"rota:{schema}",
        )
    ]
    assert len(pids) >= 4  # the pool and the listener of each store
    await _until_gone(admin, pids)
    assert (await store.get_job(job.id)).id == job.id
    assert len(await store.submit([spec()])) == 1
    # The listener noticed its loss; it reconnects and says "look for work".
    assert await store.wait_for_work(2) is True
    await sender.submit([spec()])
    assert await store.wait_for_work(2) is True


HANGING_S = 15.0
"""Longer than these tests' timeouts (1 s or less) plus a loaded machine's delays, far shorter
than the operating system's own TCP timeouts that a missing timeout would wait for."""


async def test_a_database_that_refuses_the_connection_or_a_bad_dsn_is_one_clear_error(
    dsn: str, schema: str
) -> None:
    parts = urlsplit(dsn)
    refused = {
        "no such database": parts._replace(path="/rota_no_such_database").geturl(),
        "unrecognized configuration parameter": parts._replace(query="bogus_setting=1").geturl(),
        "sslmode": parts._replace(query="sslmode=bogus").geturl(),
        "port": parts._replace(netloc=f"{parts.hostname}:99999").geturl(),
    }
    for reason, bad in refused.items():
        store = PostgresStore(bad, schema=schema, connect_timeout_s=5)
        with pytest.raises(InvalidInput, match="cannot use the database at ") as caught:
            await store.open()
        assert reason in str(caught.value) or "does not exist" in str(caught.value), reason


async def test_an_unreachable_database_fails_fast(dsn: str, schema: str) -> None:
    relay = TcpRelay(urlsplit(dsn).hostname or "127.0.0.1", urlsplit(dsn).port or 5432)
    port = await relay.start()
    await relay.refuse()
    store = PostgresStore(_via(dsn, port), schema=schema, connect_timeout_s=1)
    started = time.monotonic()
    with pytest.raises(ServerUnavailable):
        await store.open()
    assert time.monotonic() - started < HANGING_S


async def test_an_outage_raises_server_unavailable_then_the_store_recovers(
    open_store: OpenStore, dsn: str
) -> None:
    relay = TcpRelay(urlsplit(dsn).hostname or "127.0.0.1", urlsplit(dsn).port or 5432)
    port = await relay.start()
    try:
        store = await open_store(dsn=_via(dsn, port), connect_timeout_s=1, command_timeout_s=2)
        job = (await store.submit([spec()]))[0]
        await relay.refuse()  # the database goes away: connections cut, new ones refused
        with pytest.raises(ServerUnavailable):
            await store.get_job(job.id)
        with pytest.raises(ServerUnavailable):
            await store.submit([spec()])
        assert await store.wait_for_work(0.2) is True  # the listener's loss: look again
        await relay.resume()  # the database is back
        assert (await store.get_job(job.id)).id == job.id
        assert len(await store.submit([spec()])) == 1
        assert await store.wait_for_work(2) is True
    finally:
        await relay.stop()


async def test_a_silent_database_raises_instead_of_hanging(open_store: OpenStore, dsn: str) -> None:
    relay = TcpRelay(urlsplit(dsn).hostname or "127.0.0.1", urlsplit(dsn).port or 5432)
    port = await relay.start()
    try:
        store = await open_store(dsn=_via(dsn, port), connect_timeout_s=0.5, command_timeout_s=0.5)
        await relay.stall()  # bytes go in, nothing comes back
        started = time.monotonic()
        with pytest.raises(ServerUnavailable):
            await store.submit([spec()])
        with pytest.raises(ServerUnavailable):
            await store.list_jobs(JobQuery())
        assert time.monotonic() - started < HANGING_S
    finally:
        await relay.stop()


def _via(dsn: str, port: int) -> str:
    """Return the DSN with its host and port replaced by the relay's."""
    parts = urlsplit(dsn)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


async def _until_gone(admin: asyncpg.Connection, pids: list[int]) -> None:
    for _ in range(200):
        left = await admin.fetchval(
            "SELECT count(*) FROM pg_stat_activity WHERE pid = ANY($1::int[])", pids
        )
        if left == 0:
            return
        await asyncio.sleep(0.01)
    raise AssertionError("the terminated connections did not go away")


@pytest.mark.parametrize(
    ("refusal", "kind"),
    [
        (asyncpg.exceptions.InvalidCatalogNameError('database "x" does not exist'), InvalidInput),
        (asyncpg.exceptions.InvalidPasswordError("password authentication failed"), InvalidInput),
        (asyncpg.exceptions.OutOfMemoryError("out of memory"), ServerUnavailable),
        (asyncpg.exceptions.DiskFullError("could not extend file"), ServerUnavailable),
        (asyncpg.exceptions.InternalServerError("cache lookup failed"), ServerUnavailable),
    ],
)
async def test_a_refused_connection_is_a_setting_to_fix_only_when_a_setting_caused_it(
    monkeypatch: pytest.MonkeyPatch, refusal: Exception, kind: type[Exception]
) -> None:
    """A database out of memory or disk, or failing inside, may be fine in a moment: an
    outage, not a configuration error."""

    async def refuse(*_: Any, **__: Any) -> None:
        raise refusal

    monkeypatch.setattr(asyncpg, "create_pool", refuse)
    store = PostgresStore("postgresql://127.0.0.1:5432/x", schema="rota", connect_timeout_s=1)
    with pytest.raises(kind):
        await store.open()
