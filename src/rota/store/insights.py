"""Figures for the dashboard and for scrapes: throughput, lateness and a change watermark.

These verbs only read. Each backend implements them in a mixin of its own
(sqlite_insights.py, postgres_insights.py) with its SQL in `insights.sql`.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

MAX_LATENESS_SAMPLES = 10_000


@dataclass(frozen=True, kw_only=True, slots=True)
class ThroughputBucket:
    """How many jobs finished in one span of time, by outcome."""

    start_at: datetime
    succeeded: int
    failed: int

    def to_dict(self) -> dict[str, Any]:
        """Return the bucket as JSON-ready data."""
        return {
            "start_at": self.start_at.isoformat(),
            "succeeded": self.succeeded,
            "failed": self.failed,
        }


@dataclass(frozen=True, kw_only=True, slots=True)
class Lateness:
    """How late jobs started after their run_at (started_at - run_at), over a sample."""

    samples: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None

    def to_dict(self) -> dict[str, Any]:
        """Return the figures as JSON-ready data."""
        return {
            "samples": self.samples,
            "p50_s": self.p50_s,
            "p99_s": self.p99_s,
            "max_s": self.max_s,
        }


@runtime_checkable
class Insights(Protocol):
    """The read-only figures a store offers besides the Store verbs."""

    async def throughput(self, since: datetime, bucket_s: int) -> list[ThroughputBucket]:
        """Return, oldest first, the buckets of bucket_s seconds from `since` (floored to a
        multiple of bucket_s since the epoch) in which jobs succeeded or failed for good;
        buckets with no finished job are left out."""
        ...

    async def lateness(self, since: datetime) -> Lateness:
        """Return the lateness of jobs that finished since `since` after starting (at most
        the newest MAX_LATENESS_SAMPLES of them)."""
        ...

    async def event_watermark(self) -> int:
        """Return the id of the newest event (0 when there is none): it grows whenever any
        job changes, on any server, so a reader can tell cheaply that something moved."""
        ...


def lateness_of(values_s: Sequence[float]) -> Lateness:
    """Return the percentiles of lateness samples (nearest-rank, negative values as 0)."""
    ordered = sorted(max(0.0, value) for value in values_s)
    if not ordered:
        return Lateness(samples=0, p50_s=None, p99_s=None, max_s=None)
    return Lateness(
        samples=len(ordered),
        p50_s=rank(ordered, 0.50),
        p99_s=rank(ordered, 0.99),
        max_s=ordered[-1],
    )


def rank(ordered: Sequence[float], fraction: float) -> float:
    """Return the nearest-rank percentile `fraction` (0..1) of values sorted ascending."""
    index = max(0, math.ceil(fraction * len(ordered)) - 1)
    return ordered[index]


def bucket_floor_s(moment_s: float, bucket_s: int) -> int:
    """Return the start, in epoch seconds, of the bucket holding `moment_s`."""
    return int(moment_s // bucket_s) * bucket_s
