"""The PostgreSQL store's read-only verbs for people's questions (rota.store.explore)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any, TypeVar

from rota.clock import Clock
from rota.store.base import JobPage, JobQuery
from rota.store.common import filter_params, to_filtered_page
from rota.store.explore import (
    MAX_STAT_SAMPLES,
    AttemptError,
    ScheduleSkip,
    StatRow,
    TaskStats,
    WorkerSample,
    task_stats_of,
)
from rota.store.postgres_conn import Connection, Record
from rota.store.postgres_rows import aware, row_to_job
from rota.store.postgres_sql import Statements, load_compiled
from rota.types import JobId

T = TypeVar("T")

_SQL_PACKAGE = "rota.store.sql.postgres"


class PostgresExplorer:
    """Filtered lists, task figures, attempt errors and worker samples, each one statement."""

    _clock: Clock | None
    channel: str
    _explore_sql: Statements | None = None

    if TYPE_CHECKING:  # provided by PostgresStore

        async def _run(
            self, work: Callable[[Connection], Awaitable[T]], *, read: bool = False
        ) -> T: ...

    async def filter_jobs(self, query: JobQuery) -> JobPage:
        """Return a page of jobs matching any filters, in any order (see JobQuery)."""
        params = filter_params(query)
        for name in ("created_after", "created_before", "finished_after"):
            params[name] = aware(params[name])
        rows = await self._explore_rows("filter_jobs", params)
        return to_filtered_page([row_to_job(row) for row in rows], query, params["offset"])

    async def task_stats(self, since: datetime) -> list[TaskStats]:
        """Return the figures of every task over the jobs finished since `since` and the
        jobs pending or running now."""
        moment = aware(since)
        counts = await self._explore_rows("task_counts", {"since": moment})
        samples = await self._explore_rows(
            "task_samples", {"since": moment, "limit": MAX_STAT_SAMPLES}
        )
        return task_stats_of(
            [(row["task"], row["state"], row["jobs"]) for row in counts],
            [
                StatRow(task=row["task"], run_s=row["run_s"], late_s=row["late_s"])
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
                at=row["at"],
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
                at=row["at"], running=row["running"], resources=json.loads(row["resources"])
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
            "after": aware(after),
            "before": aware(before),
            "limit": limit,
        }
        rows = await self._explore_rows("schedule_skips", params)
        return [
            ScheduleSkip(
                schedule_id=row["schedule_id"],
                fire_at=row["fire_at"],
                at=row["at"],
                reason=row["reason"],
            )
            for row in rows
        ]

    async def _explore_rows(self, name: str, params: dict[str, Any]) -> list[Record]:
        if self._explore_sql is None:
            queries = await asyncio.to_thread(load_compiled, _SQL_PACKAGE, "explore.sql")
            self._explore_sql = Statements(queries, clock=self._clock, channel=self.channel)
        sql = self._explore_sql
        return await self._run(lambda c: sql.all(c, name, **params), read=True)
