"""The tasks `rota bench` runs on Rota's workers: the same work the peers' tasks do.

`bench.noop` does nothing or, with a Redis URL, one Redis round trip (an INCR), as each
peer's task does; `bench.stamp` does the same and returns the moment its body began (epoch
seconds), which latency and punctuality read back. Workers load them with
`--import rota.bench.tasks`; the Redis URL comes from ROTA_BENCH_REDIS (unset: no round trip).
"""

from __future__ import annotations

import os
import socket
import threading
import time
from urllib.parse import urlsplit

import rota

app = rota.Rota()

REDIS_ENV = "ROTA_BENCH_REDIS"
COUNTER_KEY = "rota-bench:done"


class _Redis:
    """One kept-alive connection per worker thread, speaking just enough RESP for an INCR."""

    def __init__(self, url: str) -> None:
        parts = urlsplit(url)
        self._address = (parts.hostname or "127.0.0.1", parts.port or 6379)
        self._local = threading.local()

    def incr(self, key: str) -> int:
        """Increment `key` and return its new value (one round trip)."""
        sock: socket.socket | None = getattr(self._local, "sock", None)
        if sock is None:
            sock = socket.create_connection(self._address, timeout=10)
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            self._local.sock = sock
        encoded = key.encode()
        sock.sendall(b"*2\r\n$4\r\nINCR\r\n$%d\r\n%s\r\n" % (len(encoded), encoded))
        reply = b""
        while not reply.endswith(b"\r\n"):
            chunk = sock.recv(64)
            if not chunk:
                self._local.sock = None
                raise ConnectionError("Redis closed the connection")
            reply += chunk
        if not reply.startswith(b":"):
            raise ConnectionError(f"Redis answered {reply!r}")
        return int(reply[1:-2])


_URL = os.environ.get(REDIS_ENV)
_REDIS = _Redis(_URL) if _URL else None


def _work() -> None:
    if _REDIS is not None:
        _REDIS.incr(COUNTER_KEY)


@app.task(name="bench.noop")
def noop() -> None:
    """Do the bench's unit of work and nothing else."""
    _work()


@app.task(name="bench.stamp")
def stamp() -> float:
    """Return when the body began (epoch seconds), after the unit of work."""
    began = time.time()
    _work()
    return began


@app.task(name="bench.sleep")
def sleep(seconds: float) -> float:
    """Sleep `seconds` in the worker's slot and return when the body began."""
    began = time.time()
    _work()
    time.sleep(seconds)
    return began
