"""RQ: SimpleWorker processes (one job at a time, no fork per job), with its scheduler."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import redis
import tasks_common
from rq import Queue

DISTRIBUTION = "rq"
BULK = True
DELAY = True

_state = {}
TASKS = {"noop": tasks_common.noop, "stamp": tasks_common.stamp, "sleep": tasks_common.sleep}


def open() -> None:
    _state["queue"] = Queue("bench", connection=redis.Redis.from_url(os.environ["BENCH_REDIS"]))


def close() -> None:
    pass


def reset() -> None:
    pass


def submit(task: str, args: list, eta: float | None = None) -> None:
    queue = _state["queue"]
    if eta is None:
        queue.enqueue(TASKS[task], *args, result_ttl=0)
    else:
        queue.enqueue_at(datetime.fromtimestamp(eta, UTC), TASKS[task], *args, result_ttl=0)


def submit_bulk(task: str, count: int) -> None:
    queue = _state["queue"]
    queue.enqueue_many([Queue.prepare_data(TASKS[task], result_ttl=0) for _ in range(count)])


def worker_argv(concurrency: int, number: int) -> list[str]:
    rq = os.path.join(os.path.dirname(sys.executable), "rq")
    return [
        rq,
        "worker",
        "--url",
        os.environ["BENCH_REDIS"],
        "-w",
        "rq.worker.SimpleWorker",
        "--with-scheduler",
        "-q",
        "-n",
        f"bench{number}-{os.getpid()}",
        "bench",
    ]
