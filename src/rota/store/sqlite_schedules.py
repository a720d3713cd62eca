"""The SQLite store's schedule verbs (a mixin of SqliteStore; queries in schedules.sql).

Each write runs in the writer's group commit, so a scheduler round (advance the schedule,
insert its jobs) is one atomic change; with one writer, the compare-and-set on the
schedule's version is what keeps a second round from firing an occurrence again.
"""

from __future__ import annotations

import asyncio
import json
import sqlite3
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

from rota.clock import Clock
from rota.errors import ScheduleChanged, ScheduleExists, ScheduleNotFound, StoreClosed
from rota.ids import new_job_id
from rota.jobs import Job, JobState
from rota.lifecycle import EventKind
from rota.safe_text import excerpt
from rota.scheduling.model import MAX_LOOKAHEAD_S, Firing, Schedule, ScheduleSpec
from rota.store import sqlite_ops as ops
from rota.store.common import JobIds, dump_json, from_us, maybe_from_us, to_us
from rota.store.feed import ChangeFeed, emits_changes
from rota.store.queries import load_queries
from rota.store.sqlite_rows import event_params, row_to_job
from rota.store.sqlite_writer import SqliteReaders, SqliteWriter

Queries = Mapping[str, str]
_SQL_PACKAGE = "rota.store.sql.sqlite"


class SqliteScheduleVerbs:
    """Schedules in the SQLite file: create, read, change, remove, and fire them."""

    _clock: Clock
    feed: ChangeFeed
    _ids: JobIds
    _queries: Queries
    _writer: SqliteWriter
    _readers: SqliteReaders
    _schedule_queries: Queries | None = None

    async def _sq(self) -> Queries:
        """Return the job queries and the schedule queries together, loaded once."""
        if not self._queries:
            raise StoreClosed("the store is not open")
        if self._schedule_queries is None:
            own = await asyncio.to_thread(load_queries, _SQL_PACKAGE, "schedules.sql")
            self._schedule_queries = {**self._queries, **own}
        return self._schedule_queries

    async def create_schedule(self, spec: ScheduleSpec, next_fire_at: datetime | None) -> Schedule:
        """Insert a schedule with a new id; ScheduleExists when its name is taken."""
        schedule_id, now, q = new_job_id(), self._clock.now_utc(), await self._sq()
        return await self._writer.run(
            lambda conn: _create(conn, q, schedule_id, spec, next_fire_at, now)
        )

    async def get_schedule(self, ref: str) -> Schedule:
        """Return the schedule with that id, or else that name; ScheduleNotFound if none."""
        q = await self._sq()
        return await self._readers.run(lambda conn: _get(conn, q, ref))

    async def list_schedules(self) -> list[Schedule]:
        """Return every schedule, by name."""
        q = await self._sq()

        def read(conn: sqlite3.Connection) -> list[Schedule]:
            return [row_to_schedule(row) for row in conn.execute(q["list_schedules"])]

        return await self._readers.run(read)

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        version: int,
        spec: ScheduleSpec,
        next_fire_at: datetime | None,
    ) -> Schedule:
        """Replace the spec and next fire time if the version is still current."""
        now, q = self._clock.now_utc(), await self._sq()
        return await self._writer.run(
            lambda conn: _update(conn, q, schedule_id, version, spec, next_fire_at, now)
        )

    async def delete_schedule(self, schedule_id: str) -> Schedule:
        """Remove the schedule and cancel its occurrences written ahead of their time."""
        now, q = self._clock.now_utc(), await self._sq()
        return await self._writer.run(lambda conn: _delete(conn, q, schedule_id, now))

    async def due_schedules(self, until: datetime, limit: int = 100) -> list[Schedule]:
        """Return active schedules whose next fire time, less their own lookahead_s, is at
        or before `until`, soonest first."""
        far = until + timedelta(seconds=MAX_LOOKAHEAD_S)
        params = {"until": to_us(until), "far": to_us(far), "limit": limit}
        q = await self._sq()

        def read(conn: sqlite3.Connection) -> list[Schedule]:
            rows = conn.execute(q["due_schedules"], params)
            return [row_to_schedule(row) for row in rows]

        return await self._readers.run(read)

    @emits_changes
    async def fire_schedule(self, firing: Firing) -> list[Job] | None:
        """Advance the schedule and write its occurrences, if its version is still current."""
        now, q, ids = self._clock.now_utc(), await self._sq(), self._ids
        return await self._writer.run(lambda conn: _fire(conn, q, ids, firing, now))


def row_to_schedule(row: sqlite3.Row) -> Schedule:
    """Return the Schedule a schedules row (joined with its last job's state) holds."""
    spec = ScheduleSpec.from_definition(
        row["name"], bool(row["paused"]), json.loads(row["definition"])
    )
    state = row["last_job_state"]
    return Schedule(
        id=row["id"],
        spec=spec,
        next_fire_at=maybe_from_us(row["next_fire_at"]),
        last_fire_at=maybe_from_us(row["last_fire_at"]),
        last_job_id=row["last_job_id"],
        last_job_state=None if state is None else JobState(state),
        last_job_stopping=bool(row["last_job_stopping"]),
        fired_count=row["fired_count"],
        skipped_count=row["skipped_count"],
        version=row["version"],
        created_at=from_us(row["created_at"]),
        updated_at=from_us(row["updated_at"]),
    )


def _optional_us(moment: datetime | None) -> int | None:
    return None if moment is None else to_us(moment)


def _get(conn: sqlite3.Connection, q: Queries, ref: str) -> Schedule:
    for name in ("schedule_by_id", "schedule_by_name"):
        rows = conn.execute(q[name], {"ref": ref}).fetchall()
        if rows:
            return row_to_schedule(rows[0])
    raise ScheduleNotFound(f"no schedule has the id or name {excerpt(ref)}")


def _create(
    conn: sqlite3.Connection,
    q: Queries,
    schedule_id: str,
    spec: ScheduleSpec,
    next_fire_at: datetime | None,
    now: datetime,
) -> Schedule:
    params: dict[str, Any] = {
        "id": schedule_id,
        "name": spec.name,
        "definition": dump_json(spec.definition(), "the schedule"),
        "paused": int(spec.paused),
        "next_fire_at": _optional_us(next_fire_at),
        "now": to_us(now),
    }
    try:
        conn.execute(q["insert_schedule"], params)
    except sqlite3.IntegrityError:
        raise ScheduleExists(f"a schedule named {spec.name!r} exists already") from None
    return _get(conn, q, schedule_id)


def _update(
    conn: sqlite3.Connection,
    q: Queries,
    schedule_id: str,
    version: int,
    spec: ScheduleSpec,
    next_fire_at: datetime | None,
    now: datetime,
) -> Schedule:
    params = {
        "id": schedule_id,
        "version": version,
        "definition": dump_json(spec.definition(), "the schedule"),
        "paused": int(spec.paused),
        "next_fire_at": _optional_us(next_fire_at),
        "now": to_us(now),
    }
    if conn.execute(q["update_schedule"], params).rowcount == 0:
        current = _get(conn, q, schedule_id)  # ScheduleNotFound when it is gone
        raise ScheduleChanged(
            f"schedule {current.name!r} changed meanwhile (version {current.version}, "
            f"not {version}); read it again"
        )
    if spec.paused:
        _cancel_ahead(conn, q, schedule_id, now, "its schedule was paused")
    return _get(conn, q, schedule_id)


def _delete(conn: sqlite3.Connection, q: Queries, schedule_id: str, now: datetime) -> Schedule:
    schedule = _get(conn, q, schedule_id)
    _cancel_ahead(conn, q, schedule.id, now, "its schedule was removed")
    conn.execute(q["delete_schedule"], {"id": schedule.id})
    return schedule


def _cancel_ahead(
    conn: sqlite3.Connection, q: Queries, schedule_id: str, now: datetime, why: str
) -> None:
    now_us = to_us(now)
    rows = conn.execute(q["cancel_ahead"], {"id": schedule_id, "now": now_us}).fetchall()
    jobs = [row_to_job(row) for row in rows]
    conn.executemany(
        q["insert_event"], [event_params(job, EventKind.CANCELLED, now_us, why) for job in jobs]
    )


def _fire(
    conn: sqlite3.Connection, q: Queries, ids: JobIds, firing: Firing, now: datetime
) -> list[Job] | None:
    params = {
        "id": firing.schedule_id,
        "version": firing.version,
        "next_fire_at": _optional_us(firing.next_fire_at),
        "last_fire_at": _optional_us(firing.last_fire_at),
        "fired": len(firing.jobs),
        "skipped": firing.skipped,
        "now": to_us(now),
    }
    if conn.execute(q["advance_schedule"], params).rowcount == 0:
        return None  # another round (or an edit) got there first
    if firing.skips:
        conn.executemany(
            q["record_skip"],
            [
                {
                    "schedule_id": firing.schedule_id,
                    "fire_at": to_us(skip.fire_at),
                    "now": params["now"],
                    "reason": skip.reason,
                }
                for skip in firing.skips
            ],
        )
        conn.execute(q["trim_skips"], {"schedule_id": firing.schedule_id})
    jobs = ops.submit(conn, q, ids, firing.jobs, now)
    if jobs:
        conn.execute(q["set_last_job"], {"id": firing.schedule_id, "job_id": jobs[-1].id})
    return jobs
