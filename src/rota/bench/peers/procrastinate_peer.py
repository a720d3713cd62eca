"""Procrastinate on PostgreSQL (a database of its own, made afresh for each workload)."""

from __future__ import annotations

import asyncio
import os
import sys
from datetime import UTC, datetime
from urllib.parse import urlsplit, urlunsplit

import procrastinate
import psycopg
import tasks_common

DISTRIBUTION = "procrastinate"
BULK = True
DELAY = True
DATABASE = "rota_bench_procrastinate"


def _dsn(database: str) -> str:
    parts = urlsplit(os.environ["BENCH_POSTGRES"])
    return urlunsplit(parts._replace(path="/" + database, query=""))


app = procrastinate.App(connector=procrastinate.PsycopgConnector(conninfo=_dsn(DATABASE)))
noop = app.task(name="noop", queue="bench", pass_context=False)(tasks_common.noop)
stamp = app.task(name="stamp", queue="bench", pass_context=False)(tasks_common.stamp)
sleep = app.task(name="sleep", queue="bench", pass_context=False)(tasks_common.sleep)
TASKS = {"noop": noop, "stamp": stamp, "sleep": sleep}
_loop = {}


def open() -> None:
    reset_database()
    runner = asyncio.Runner()
    _loop["runner"] = runner
    runner.run(_open())


async def _open() -> None:
    await app.open_async()
    await app.schema_manager.apply_schema_async()


def reset_database() -> None:
    with psycopg.connect(os.environ["BENCH_POSTGRES"], autocommit=True) as connection:
        connection.execute(f"DROP DATABASE IF EXISTS {DATABASE} WITH (FORCE)")
        connection.execute(f"CREATE DATABASE {DATABASE}")


def close() -> None:
    runner = _loop.pop("runner")
    runner.run(app.close_async())
    runner.close()


def reset() -> None:
    _loop["runner"].run(_truncate())


async def _truncate() -> None:
    await app.connector.execute_query_async("TRUNCATE procrastinate_jobs CASCADE")


def submit(task: str, args: list, eta: float | None = None) -> None:
    kwargs = _kwargs(task, args)
    if eta is None:
        _loop["runner"].run(TASKS[task].defer_async(**kwargs))
    else:
        when = datetime.fromtimestamp(eta, UTC)
        _loop["runner"].run(TASKS[task].configure(schedule_at=when).defer_async(**kwargs))


def submit_bulk(task: str, count: int) -> None:
    _loop["runner"].run(TASKS[task].batch_defer_async(*[{} for _ in range(count)]))


def _kwargs(task: str, args: list) -> dict:
    names = {"noop": [], "stamp": ["key"], "sleep": ["key", "seconds"]}[task]
    return dict(zip(names, args, strict=True))


def worker_argv(concurrency: int, number: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "procrastinate",
        "--app",
        "procrastinate_peer.app",
        "worker",
        "--queues",
        "bench",
        "--concurrency",
        str(concurrency),
    ]
