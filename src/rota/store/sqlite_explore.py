"""The SQLite store's read-only verbs for people's questions (rota.store.explore)."""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING

from rota.store.base import JobPage, JobQuery
from rota.store.common import filter_params, from_us, to_filtered_page, to_us
from rota.store.explore import (
    MAX_STAT_SAMPLES,
    AttemptError,
    ScheduleSkip,
    StatRow,
    TaskStats,
    WorkerSample,
    task_stats_of,
)
from rota.store.queries import load_queries
from rota.store.sqlite_rows import row_to_job
from rota.store.sqlite_writer import SqliteReaders
from rota.types import JobId

_SQL_PACKAGE = "rota.store.sql.sqlite"
_MICROSECONDS = 1_000_000


class SqliteExplorer:
    """Filtered lists, task figures, attempt errors and worker samples, read on the pool."""

    _readers: SqliteReaders
    _explore_queries: Mapping[str, str] | None = None

    if TYPE_CHECKING:  # provided by SqliteStore

        def _check_open(self) -> None: ...

    async def filter_jobs(self, query: JobQuery) -> JobPage:
        """Return a page of jobs matching any filters, in any order (see JobQuery)."""
        params = filter_params(query)
        for name in ("created_after", "created_before", "finished_after"):
            moment: datetime | None = params[name]
            params[name] = None if moment is None else to_us(moment)
        rows = await self._explore_rows("filter_jobs", params)
        return to_filtered_page([row_to_job(row) for row in rows], query, params["offset"])

    async def task_stats(self, since: datetime) -> list[TaskStats]:
        """Return the figures of every task over the jobs finished since `since` and the
        jobs pending or running now."""
        params = {"since": to_us(since)}
        counts = await self._explore_rows("task_counts", params)
        samples = await self._explore_rows("task_samples", params | {"limit": MAX_STAT_SAMPLES})
        return task_stats_of(
            [(row["task"], row["state"], row["jobs"]) for row in counts],
            [
                StatRow(
                    task=row["task"],
                    run_s=None if row["run_us"] is None else row["run_us"] / _MICROSECONDS,
                    late_s=None if row["late_us"] is None else row["late_us"] / _MICROSECONDS,
                )
                for row in samples
            ],
        )

    async def attempt_errors(self, job_id: JobId) -> list[AttemptError]:
        """Return the error and traceback of each failed attempt of the job, in order."""
        rows = await self._explore_rows("attempt_errors", {"job_id": job_id})
        return [
            AttemptError(
                job_id=row["job_id"],
                attempt=row["attempt"],
                at=from_us(row["at"]),
                error=row["error"],
                traceback=row["traceback"],
            )
            for row in rows
        ]

    async def worker_samples(self, name: str) -> list[WorkerSample]:
        """Return the worker's kept resource samples, oldest first."""
        rows = await self._explore_rows("worker_samples", {"name": name})
        return [
            WorkerSample(
                at=from_us(row["at"]),
                running=row["running"],
                resources=json.loads(row["resources"]),
            )
            for row in rows
        ]

    async def schedule_skips(
        self,
        schedule_id: str,
        *,
        after: datetime | None = None,
        before: datetime | None = None,
        limit: int = 200,
    ) -> list[ScheduleSkip]:
        """Return the schedule's skipped occurrences in [after, before), newest first."""
        params = {
            "schedule_id": schedule_id,
            "after": None if after is None else to_us(after),
            "before": None if before is None else to_us(before),
            "limit": limit,
        }
        rows = await self._explore_rows("schedule_skips", params)
        return [
            ScheduleSkip(
                schedule_id=row["schedule_id"],
                fire_at=from_us(row["fire_at"]),
                at=from_us(row["at"]),
                reason=row["reason"],
            )
            for row in rows
        ]

    async def _explore_rows(self, name: str, params: Mapping[str, object]) -> list[sqlite3.Row]:
        self._check_open()
        if self._explore_queries is None:
            self._explore_queries = await asyncio.to_thread(
                load_queries, _SQL_PACKAGE, "explore.sql"
            )
        sql = self._explore_queries[name]
        rows: list[sqlite3.Row] = await self._readers.run(
            lambda conn: conn.execute(sql, params).fetchall()
        )
        return rows
