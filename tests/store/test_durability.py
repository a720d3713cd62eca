"""The store's durability setting: "full" waits for the disk flush at every commit, "relaxed"
commits without it (SQLite synchronous = NORMAL in WAL mode; PostgreSQL synchronous_commit
= off), on the connections that write."""

from __future__ import annotations

from pathlib import Path

import asyncpg
import pytest

from rota.jobs import JobSpec
from rota.store import open_store
from rota.store.postgres import PostgresStore
from rota.store.sqlite import SqliteStore
from tests.contract.postgres import drop_schemas, postgres_server

SYNCHRONOUS = {1: "NORMAL", 2: "FULL"}


async def sqlite_synchronous(store: SqliteStore) -> str:
    level = await store._writer.run(lambda conn: conn.execute("PRAGMA synchronous").fetchone()[0])
    return SYNCHRONOUS[level]


@pytest.mark.parametrize(("durability", "level"), [("full", "FULL"), ("relaxed", "NORMAL")])
async def test_sqlite_writer_syncs_as_told(tmp_path: Path, durability: str, level: str) -> None:
    store = open_store(str(tmp_path / "rota.db"), durability=durability)  # type: ignore[arg-type]
    assert isinstance(store, SqliteStore)
    await store.open()
    try:
        [job] = await store.submit([JobSpec(task="app.noop")])
        assert await sqlite_synchronous(store) == level
        assert (await store.get_job(job.id)).id == job.id
    finally:
        await store.close()


async def test_sqlite_is_full_unless_told() -> None:
    store = open_store("rota.db")
    assert isinstance(store, SqliteStore)
    assert store._synchronous == "FULL"


@pytest.mark.postgres
@pytest.mark.parametrize("durability", ["full", "relaxed"])
async def test_postgres_commits_as_told(durability: str) -> None:
    """ "relaxed" turns synchronous_commit off; "full" keeps the server's own setting (on,
    unless its operator chose otherwise: the suite's own throw-away server runs with it off)."""
    server = postgres_server()
    plain = await asyncpg.connect(server.dsn)
    try:
        own = await plain.fetchval("SHOW synchronous_commit")
    finally:
        await plain.close()
    setting = "off" if durability == "relaxed" else own
    schema = server.new_schema()
    store = open_store(f"{server.dsn}?schema={schema}", durability=durability)  # type: ignore[arg-type]
    assert isinstance(store, PostgresStore)
    try:
        await store.open()
        [job] = await store.submit([JobSpec(task="app.noop")])
        value = await store._runner.run(
            lambda conn: conn.fetchval("SHOW synchronous_commit"), retry=False
        )
        assert value == setting
        assert (await store.get_job(job.id)).id == job.id
    finally:
        await store.close()
        await drop_schemas(server.dsn, [schema])
