"""What every peer's tasks do, with one Redis connection per process."""

from __future__ import annotations

import os
import time

import redis

_db = None


def db():
    global _db
    if _db is None:
        _db = redis.Redis.from_url(os.environ["BENCH_REDIS"])
    return _db


def noop() -> None:
    db().incr("bench:done")


def stamp(key: str) -> None:
    db().rpush("bench:stamps", f"{key} {time.time()}")


def sleep(key: str, seconds: float) -> None:
    db().rpush("bench:starts", f"{key} {time.time()}")
    time.sleep(seconds)
    db().rpush("bench:ends", key)
