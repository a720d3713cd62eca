"""Huey on Redis: a consumer with worker threads per process (no bulk submit)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import tasks_common
from huey import RedisHuey

DISTRIBUTION = "huey"
BULK = False
DELAY = True

huey = RedisHuey("bench", url=os.environ["BENCH_REDIS"], results=False, utc=True)

noop = huey.task(name="noop")(tasks_common.noop)
stamp = huey.task(name="stamp")(tasks_common.stamp)
sleep = huey.task(name="sleep")(tasks_common.sleep)
TASKS = {"noop": noop, "stamp": stamp, "sleep": sleep}


def open() -> None:
    pass


def close() -> None:
    pass


def reset() -> None:
    pass


def submit(task: str, args: list, eta: float | None = None) -> None:
    if eta is None:
        TASKS[task](*args)
    else:
        TASKS[task].schedule(
            args=tuple(args), eta=datetime.fromtimestamp(eta, UTC).replace(tzinfo=None)
        )


def submit_bulk(task: str, count: int) -> None:
    raise NotImplementedError


def worker_argv(concurrency: int, number: int) -> list[str]:
    consumer = os.path.join(os.path.dirname(sys.executable), "huey_consumer")
    return [consumer, "huey_peer.huey", "-k", "thread", "-w", str(concurrency), "-q"]
