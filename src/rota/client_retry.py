"""When the client sends a request again: lost connections and a proxy's 502/503/504.

A request is sent again only when that cannot do twice what the caller asked once: reads,
and submissions, which always carry an idempotency key (the client makes one when the caller
gives none), so a retried submission gets back the job the first attempt created. Any other
request is sent again only when it never reached the server (the connection was refused).
"""

from __future__ import annotations

import os
import random
import time
from collections.abc import Iterator
from dataclasses import dataclass

import httpx

RETRY_STATUSES = frozenset({502, 503, 504})
"""What a proxy answers when a server died, is restarting, or did not answer in time; Rota
answers 503 itself while its store is unreachable."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


@dataclass(frozen=True, kw_only=True, slots=True)
class RetryPolicy:
    """How often and how patiently the client sends a request again.

    `attempts` counts every try, the first included (1 means never again). The pause before
    try n+1 is `base_s * factor**(n-1)`, at most `max_s`, times a random factor in
    [1 - jitter, 1] so that many clients cut off at once do not come back in step.
    """

    attempts: int = 6
    base_s: float = 0.2
    factor: float = 2.0
    max_s: float = 3.0
    jitter: float = 0.5

    def pauses(self) -> Iterator[float]:
        """Yield the pause in seconds before each try after the first."""
        for n in range(max(0, self.attempts - 1)):
            pause = min(self.max_s, self.base_s * self.factor**n)
            yield pause * (1 - self.jitter * random.random())


DEFAULT_RETRY = RetryPolicy()
NO_RETRY = RetryPolicy(attempts=1)


def new_idempotency_key() -> str:
    """Return a fresh idempotency key for a submission whose caller gave none (see
    new_idempotency_keys)."""
    return new_idempotency_keys(1)[0]


def new_idempotency_keys(count: int) -> list[str]:
    """Return `count` fresh idempotency keys (for the items of a bulk submission), from one
    read of the system's random source: `rota-client-`, the time in milliseconds in 12 hex
    digits, then 80 random bits in 20.

    The time comes first for the store's sake, as in a UUIDv7 (RFC 9562, section 5.7): new
    keys sort after the keys stored before them, so a bulk's keys go to the end of the
    store's index of keys, a few pages, rather than each to a random page of it (which made
    the commit of a bulk write hundreds of pages once many jobs were stored). 80 random bits
    keep keys made in the same millisecond apart, by this client and any other.
    """
    stamp = f"{time.time_ns() // 1_000_000 & 0xFFFF_FFFF_FFFF:012x}"
    digits = os.urandom(10 * count).hex()
    return [
        f"rota-client-{stamp}{digits[start : start + 20]}" for start in range(0, 20 * count, 20)
    ]


def may_retry_error(error: httpx.TransportError, *, repeatable: bool) -> bool:
    """Whether a request that failed with `error` may be sent again.

    A repeatable request (a read, a keyed submission) may after any transport error; any
    other only when the connection was never made, so the server cannot have seen it.
    """
    return repeatable or isinstance(error, httpx.ConnectError)


def may_retry_status(status_code: int, *, repeatable: bool) -> bool:
    """Whether a repeatable request answered with `status_code` may be sent again."""
    return repeatable and status_code in RETRY_STATUSES
