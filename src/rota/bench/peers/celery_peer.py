"""Celery on Redis: a thread pool per worker process, default acknowledgement (on receipt)."""

from __future__ import annotations

import os
import sys
from datetime import UTC, datetime

import tasks_common
from celery import Celery, group

DISTRIBUTION = "celery"
BULK = True
DELAY = True

app = Celery("celery_peer", broker=os.environ["BENCH_REDIS"])
app.conf.update(
    task_default_queue="bench",
    worker_hijack_root_logger=False,
    broker_connection_retry_on_startup=True,
)

noop = app.task(name="noop", ignore_result=True)(tasks_common.noop)
stamp = app.task(name="stamp", ignore_result=True)(tasks_common.stamp)
sleep = app.task(name="sleep", ignore_result=True)(tasks_common.sleep)
TASKS = {"noop": noop, "stamp": stamp, "sleep": sleep}


def open() -> None:
    pass


def close() -> None:
    pass


def reset() -> None:
    pass


def submit(task: str, args: list, eta: float | None = None) -> None:
    if eta is None:
        TASKS[task].apply_async(args)
    else:
        TASKS[task].apply_async(args, eta=datetime.fromtimestamp(eta, UTC))


def submit_bulk(task: str, count: int) -> None:
    group(TASKS[task].s() for _ in range(count)).apply_async()


def worker_argv(concurrency: int, number: int) -> list[str]:
    celery = os.path.join(os.path.dirname(sys.executable), "celery")
    return [
        celery,
        "-A",
        "celery_peer",
        "worker",
        "-P",
        "threads",
        "-c",
        str(concurrency),
        "-Q",
        "bench",
        "-n",
        f"bench{number}@%h",
        "-l",
        "WARNING",
        "--without-gossip",
        "--without-mingle",
        "--without-heartbeat",
    ]
