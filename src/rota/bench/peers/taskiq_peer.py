"""Taskiq on Redis streams (acknowledged), async tasks; no bulk submit and no delayed jobs
without a separate scheduler process."""

from __future__ import annotations

import asyncio
import os
import sys
import time

import redis.asyncio
from taskiq_redis import RedisStreamBroker

DISTRIBUTION = "taskiq"
BULK = False
DELAY = False

# consumer_id "0": a group made after the jobs were sent still reads them from the start.
broker = RedisStreamBroker(url=os.environ["BENCH_REDIS"], queue_name="bench", consumer_id="0")
_redis = {}


def _db():
    if "db" not in _redis:
        _redis["db"] = redis.asyncio.Redis.from_url(os.environ["BENCH_REDIS"])
    return _redis["db"]


@broker.task(task_name="noop")
async def noop() -> None:
    await _db().incr("bench:done")


@broker.task(task_name="stamp")
async def stamp(key: str) -> None:
    await _db().rpush("bench:stamps", f"{key} {time.time()}")


@broker.task(task_name="sleep")
async def sleep(key: str, seconds: float) -> None:
    await _db().rpush("bench:starts", f"{key} {time.time()}")
    await asyncio.sleep(seconds)
    await _db().rpush("bench:ends", key)


TASKS = {"noop": noop, "stamp": stamp, "sleep": sleep}
_loop = {}


def open() -> None:
    runner = asyncio.Runner()
    _loop["runner"] = runner
    runner.run(broker.startup())


def close() -> None:
    runner = _loop.pop("runner")
    runner.run(broker.shutdown())
    runner.close()


def reset() -> None:
    pass


def submit(task: str, args: list, eta: float | None = None) -> None:
    _loop["runner"].run(TASKS[task].kiq(*args))


def submit_bulk(task: str, count: int) -> None:
    raise NotImplementedError


def worker_argv(concurrency: int, number: int) -> list[str]:
    taskiq = os.path.join(os.path.dirname(sys.executable), "taskiq")
    return [
        taskiq,
        "worker",
        "taskiq_peer:broker",
        "--workers",
        "1",
        "--max-async-tasks",
        str(concurrency),
        "--no-configure-logging",
    ]
