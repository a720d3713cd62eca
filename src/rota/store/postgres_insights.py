"""The PostgreSQL store's read-only figures (rota.store.insights), mixed into PostgresStore."""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, TypeVar

from rota.clock import Clock
from rota.store.insights import (
    MAX_LATENESS_SAMPLES,
    Lateness,
    ThroughputBucket,
    lateness_of,
)
from rota.store.postgres_conn import Connection
from rota.store.postgres_rows import aware
from rota.store.postgres_sql import Statements, load_compiled

T = TypeVar("T")

_SQL_PACKAGE = "rota.store.sql.postgres"


class PostgresInsights:
    """Throughput, lateness and the event watermark, each one read-only statement."""

    _clock: Clock | None
    channel: str
    _insight_sql: Statements | None = None

    if TYPE_CHECKING:  # provided by PostgresStore

        async def _run(
            self, work: Callable[[Connection], Awaitable[T]], *, read: bool = False
        ) -> T: ...

    async def throughput(self, since: datetime, bucket_s: int) -> list[ThroughputBucket]:
        """Return the buckets since `since` in which jobs succeeded or failed for good."""
        sql = await self._insights()
        step_s = int(bucket_s)
        start_s = int(aware(since).timestamp()) // step_s * step_s
        start_at = datetime.fromtimestamp(start_s, UTC)
        rows = await self._run(
            lambda c: sql.all(c, "throughput", since=start_at, bucket_s=float(step_s)), read=True
        )
        return [
            ThroughputBucket(
                start_at=row["bucket_at"].astimezone(UTC),
                succeeded=int(row["succeeded"]),
                failed=int(row["failed"]),
            )
            for row in rows
        ]

    async def lateness(self, since: datetime) -> Lateness:
        """Return the lateness of jobs that finished since `since` after starting."""
        sql = await self._insights()
        moment = aware(since)
        rows = await self._run(
            lambda c: sql.all(c, "lateness", since=moment, limit=MAX_LATENESS_SAMPLES),
            read=True,
        )
        return lateness_of([float(row["late_s"]) for row in rows])

    async def event_watermark(self) -> int:
        """Return the id of the newest event, 0 when there is none."""
        sql = await self._insights()
        value = await self._run(lambda c: sql.value(c, "event_watermark"), read=True)
        return int(value or 0)

    async def _insights(self) -> Statements:
        if self._insight_sql is None:
            queries = await asyncio.to_thread(load_compiled, _SQL_PACKAGE, "insights.sql")
            self._insight_sql = Statements(queries, clock=self._clock, channel=self.channel)
        return self._insight_sql
