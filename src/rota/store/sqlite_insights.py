"""The SQLite store's read-only figures (rota.store.insights), mixed into SqliteStore."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from rota.store.common import from_us, to_us
from rota.store.insights import (
    MAX_LATENESS_SAMPLES,
    Lateness,
    ThroughputBucket,
    lateness_of,
)
from rota.store.queries import load_queries
from rota.store.sqlite_writer import SqliteReaders

_SQL_PACKAGE = "rota.store.sql.sqlite"
_MICROSECONDS = 1_000_000


class SqliteInsights:
    """Throughput, lateness and the event watermark, read on the store's read pool."""

    _readers: SqliteReaders
    _insight_queries: Mapping[str, str] | None = None

    if TYPE_CHECKING:  # provided by SqliteStore

        def _check_open(self) -> None: ...

    async def throughput(self, since: datetime, bucket_s: int) -> list[ThroughputBucket]:
        """Return the buckets since `since` in which jobs succeeded or failed for good."""
        bucket_us = int(bucket_s) * _MICROSECONDS
        start_us = to_us(since) // bucket_us * bucket_us
        rows = await self._insight_rows("throughput", {"since": start_us, "bucket_us": bucket_us})
        return [
            ThroughputBucket(
                start_at=from_us(row["bucket_us"]),
                succeeded=int(row["succeeded"] or 0),
                failed=int(row["failed"] or 0),
            )
            for row in rows
        ]

    async def lateness(self, since: datetime) -> Lateness:
        """Return the lateness of jobs that finished since `since` after starting."""
        rows = await self._insight_rows(
            "lateness", {"since": to_us(since), "limit": MAX_LATENESS_SAMPLES}
        )
        return lateness_of([row["late_us"] / _MICROSECONDS for row in rows])

    async def event_watermark(self) -> int:
        """Return the id of the newest event, 0 when there is none."""
        rows = await self._insight_rows("event_watermark", {})
        return int(rows[0]["id"]) if rows else 0

    async def _insight_rows(self, name: str, params: Mapping[str, object]) -> list[sqlite3.Row]:
        self._check_open()
        if self._insight_queries is None:
            self._insight_queries = await asyncio.to_thread(
                load_queries, _SQL_PACKAGE, "insights.sql"
            )
        sql = self._insight_queries[name]
        rows: list[sqlite3.Row] = await self._readers.run(
            lambda conn: conn.execute(sql, params).fetchall()
        )
        return rows
