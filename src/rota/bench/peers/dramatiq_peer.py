"""Dramatiq on Redis: one worker process with threads per worker command."""

from __future__ import annotations

import os
import sys
import time

import dramatiq
import tasks_common
from dramatiq.brokers.redis import RedisBroker

DISTRIBUTION = "dramatiq"
BULK = True
DELAY = True

broker = RedisBroker(url=os.environ["BENCH_REDIS"])
dramatiq.set_broker(broker)

noop = dramatiq.actor(tasks_common.noop, actor_name="noop", queue_name="bench", max_retries=0)
stamp = dramatiq.actor(tasks_common.stamp, actor_name="stamp", queue_name="bench", max_retries=0)
sleep = dramatiq.actor(tasks_common.sleep, actor_name="sleep", queue_name="bench", max_retries=0)
TASKS = {"noop": noop, "stamp": stamp, "sleep": sleep}


def open() -> None:
    pass


def close() -> None:
    pass


def reset() -> None:
    pass


def submit(task: str, args: list, eta: float | None = None) -> None:
    if eta is None:
        TASKS[task].send(*args)
    else:
        delay_ms = max(0, int((eta - time.time()) * 1000))
        TASKS[task].send_with_options(args=tuple(args), delay=delay_ms)


def submit_bulk(task: str, count: int) -> None:
    dramatiq.group(TASKS[task].message() for _ in range(count)).run()


def worker_argv(concurrency: int, number: int) -> list[str]:
    return [
        sys.executable,
        "-m",
        "dramatiq",
        "dramatiq_peer",
        "--processes",
        "1",
        "--threads",
        str(concurrency),
        "--queues",
        "bench",
    ]
