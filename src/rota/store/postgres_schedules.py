"""The PostgreSQL store's schedule verbs (a mixin of PostgresStore; queries in schedules.sql).

A scheduler round is one transaction: the compare-and-set on the schedule's version, then
the insert of its jobs. Servers racing for the same round serialise on the schedule's row;
the loser's update matches nothing, so it writes nothing.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any, TypeVar

from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import ScheduleChanged, ScheduleExists, ScheduleNotFound
from rota.ids import new_job_id
from rota.jobs import Job, JobState
from rota.safe_text import excerpt
from rota.scheduling.model import MAX_LOOKAHEAD_S, Firing, Schedule, ScheduleSpec
from rota.store import postgres_ops as ops
from rota.store.common import JobIds, dump_json
from rota.store.feed import ChangeFeed, emits_changes
from rota.store.postgres_conn import Connection, Record
from rota.store.postgres_rows import aware, submit_columns
from rota.store.postgres_sql import Statements, load_compiled

T = TypeVar("T")

_SQL_PACKAGE = "rota.store.sql.postgres"


class PostgresScheduleVerbs:
    """Schedules in the PostgreSQL schema: create, read, change, remove, and fire them."""

    _clock: Clock | None
    feed: ChangeFeed
    _ids: JobIds
    channel: str
    _schedule_sql: Statements | None = None

    if TYPE_CHECKING:  # provided by PostgresStore

        async def _run(
            self, work: Callable[[Connection], Awaitable[T]], *, read: bool = False
        ) -> T: ...

    async def _sq(self) -> Statements:
        """Return the job and schedule statements together, compiled once."""
        if self._schedule_sql is None:

            def load() -> dict[str, Any]:
                return {
                    **load_compiled(_SQL_PACKAGE, "queries.sql"),
                    **load_compiled(_SQL_PACKAGE, "schedules.sql"),
                }

            queries = await asyncio.to_thread(load)
            self._schedule_sql = Statements(queries, clock=self._clock, channel=self.channel)
        return self._schedule_sql

    async def create_schedule(self, spec: ScheduleSpec, next_fire_at: datetime | None) -> Schedule:
        """Insert a schedule with a new id; ScheduleExists when its name is taken."""
        sql = await self._sq()
        params = {
            "id": new_job_id(),
            "name": spec.name,
            "definition": dump_json(spec.definition(), "the schedule"),
            "paused": spec.paused,
            "next_fire_at": aware(next_fire_at),
        }

        async def create(conn: Connection) -> Schedule:
            async with conn.transaction():
                created = await sql.value(conn, "insert_schedule", **params)
                if created is None:
                    raise ScheduleExists(f"a schedule named {spec.name!r} exists already")
                return await _get(conn, sql, created)

        return await self._run(create)

    async def get_schedule(self, ref: str) -> Schedule:
        """Return the schedule with that id, or else that name; ScheduleNotFound if none."""
        sql = await self._sq()
        return await self._run(lambda conn: _get(conn, sql, ref), read=True)

    async def list_schedules(self) -> list[Schedule]:
        """Return every schedule, by name."""
        sql = await self._sq()
        rows = await self._run(lambda conn: sql.all(conn, "list_schedules"), read=True)
        return [row_to_schedule(row) for row in rows]

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        version: int,
        spec: ScheduleSpec,
        next_fire_at: datetime | None,
    ) -> Schedule:
        """Replace the spec and next fire time if the version is still current."""
        sql = await self._sq()
        params = {
            "id": schedule_id,
            "version": version,
            "definition": dump_json(spec.definition(), "the schedule"),
            "paused": spec.paused,
            "next_fire_at": aware(next_fire_at),
        }

        async def update(conn: Connection) -> Schedule:
            async with conn.transaction():
                if await sql.value(conn, "update_schedule", **params) is None:
                    current = await _get(conn, sql, schedule_id)
                    raise ScheduleChanged(
                        f"schedule {current.name!r} changed meanwhile (version "
                        f"{current.version}, not {version}); read it again"
                    )
                if spec.paused:
                    message = "its schedule was paused"
                    await sql.value(conn, "cancel_ahead", id=schedule_id, message=message)
                return await _get(conn, sql, schedule_id)

        return await self._run(update)

    async def delete_schedule(self, schedule_id: str) -> Schedule:
        """Remove the schedule and cancel its occurrences written ahead of their time."""
        sql = await self._sq()

        async def delete(conn: Connection) -> Schedule:
            async with conn.transaction():
                schedule = await _get(conn, sql, schedule_id)
                message = "its schedule was removed"
                await sql.value(conn, "cancel_ahead", id=schedule.id, message=message)
                await sql.all(conn, "delete_schedule", id=schedule.id)
                return schedule

        return await self._run(delete)

    async def due_schedules(self, until: datetime, limit: int = 100) -> list[Schedule]:
        """Return active schedules whose next fire time, less their own lookahead_s, is at
        or before `until`, soonest first."""
        sql = await self._sq()
        far = until + timedelta(seconds=MAX_LOOKAHEAD_S)
        params = {"until": aware(until), "far": aware(far), "limit": limit}
        rows = await self._run(lambda conn: sql.all(conn, "due_schedules", **params), read=True)
        return [row_to_schedule(row) for row in rows]

    @emits_changes
    async def fire_schedule(self, firing: Firing) -> list[Job] | None:
        """Advance the schedule and write its occurrences, if its version is still current."""
        sql = await self._sq()
        id_time = (self._clock or SYSTEM_CLOCK).now_utc()  # stamps ids only
        columns, planned = submit_columns(firing.jobs, self._ids, id_time)
        params = {
            "id": firing.schedule_id,
            "version": firing.version,
            "next_fire_at": aware(firing.next_fire_at),
            "last_fire_at": aware(firing.last_fire_at),
            "fired": len(firing.jobs),
            "skipped": firing.skipped,
        }

        async def fire(conn: Connection) -> list[Job] | None:
            async with conn.transaction():
                if await sql.value(conn, "advance_schedule", **params) is None:
                    return None  # another server (or an edit) got there first
                if firing.skips:
                    await sql.all(
                        conn,
                        "record_skips",
                        schedule_id=firing.schedule_id,
                        fire_ats=[aware(skip.fire_at) for skip in firing.skips],
                        reasons=[skip.reason for skip in firing.skips],
                    )
                    await sql.all(conn, "trim_skips", schedule_id=firing.schedule_id)
                if not firing.jobs:
                    return []
                jobs = await ops.submit(conn, sql, columns, firing.jobs, planned)
                await sql.all(conn, "set_last_job", id=firing.schedule_id, job_id=jobs[-1].id)
                return jobs

        return await self._run(fire)


def row_to_schedule(row: Record) -> Schedule:
    """Return the Schedule a schedules record (joined with its last job's state) holds."""
    spec = ScheduleSpec.from_definition(row["name"], row["paused"], json.loads(row["definition"]))
    state = row["last_job_state"]
    return Schedule(
        id=row["id"],
        spec=spec,
        next_fire_at=row["next_fire_at"],
        last_fire_at=row["last_fire_at"],
        last_job_id=row["last_job_id"],
        last_job_state=None if state is None else JobState(state),
        last_job_stopping=bool(row["last_job_stopping"]),
        fired_count=row["fired_count"],
        skipped_count=row["skipped_count"],
        version=row["version"],
        created_at=row["created_at"],
        updated_at=row["updated_at"],
    )


async def _get(conn: Connection, sql: Statements, ref: str) -> Schedule:
    for name in ("schedule_by_id", "schedule_by_name"):
        row = await sql.row(conn, name, ref=ref)
        if row is not None:
            return row_to_schedule(row)
    raise ScheduleNotFound(f"no schedule has the id or name {excerpt(ref)}")
