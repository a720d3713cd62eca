"""Fill a stopped server's store with many jobs by bulk SQL, copying one real job's row.

Going through the API would take hours for 10M jobs; a copy of a row the server itself wrote
keeps every column the schema has, whatever it is, and only the id, state, queue and times
change. Copies get ids that sort before every real UUIDv7 (they look older), and keep no
lease, idempotency key or events.
"""

from __future__ import annotations

import sqlite3
import time
from pathlib import Path

import anyio

from rota.bench.cluster import without_schema

ID_PREFIX = "00000000-0000-7000-8000-"
"""Copies' ids: this prefix and a 12-digit hex counter, below every real UUIDv7."""
_RESET = ("lease_token", "lease_expires_at", "idempotency_key", "worker", "schedule_id")
_SKIP = ("seq",)


def fill_sqlite(
    path: Path, *, template_id: str, count: int, state: str, queue: str, first: int
) -> None:
    """Insert `count` copies of job `template_id` in `state` on `queue`, numbered from `first`."""
    connection = sqlite3.connect(path)
    try:
        connection.execute("PRAGMA synchronous = OFF")
        # No write-ahead log for the fill: the rows go straight into the database file, once
        # (in WAL mode 10M rows are written twice, to the log and then by the checkpoint).
        connection.execute("PRAGMA journal_mode = OFF")
        columns = [row[1] for row in connection.execute("PRAGMA table_info(jobs)")]
        now_us = int(time.time() * 1_000_000)
        values = []
        for column in columns:
            if column == "id":
                values.append(f"printf('{ID_PREFIX}%012x', n)")
            elif column == "state":
                values.append(":state")
            elif column == "queue":
                values.append(":queue")
            elif column in _RESET:
                values.append("NULL")
            elif column in ("finished_at", "started_at"):
                values.append(f"{now_us}" if state != "pending" else "NULL")
            elif column == "attempt":
                values.append("1" if state != "pending" else "0")
            else:
                values.append(f"t.{column}")
        names = ", ".join(columns)
        sql = (
            f"INSERT INTO jobs ({names}) "
            "WITH RECURSIVE c(n) AS (SELECT :first UNION ALL SELECT n + 1 FROM c WHERE n < :last) "
            f"SELECT {', '.join(values)} FROM c, jobs AS t WHERE t.id = :template"
        )
        with connection:
            connection.execute(
                sql,
                {
                    "state": state,
                    "queue": queue,
                    "first": first,
                    "last": first + count - 1,
                    "template": template_id,
                },
            )
        connection.execute("ANALYZE")
        connection.execute("PRAGMA journal_mode = WAL")  # as the store keeps it
    finally:
        connection.close()


def fill_postgres(
    dsn: str, schema: str, *, template_id: str, count: int, state: str, queue: str, first: int
) -> None:
    """The same as fill_sqlite on the cluster's PostgreSQL schema."""
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(without_schema(dsn))
        try:
            await connection.execute(f'SET search_path TO "{schema}"')
            await connection.execute("SET synchronous_commit TO off")
            rows = await connection.fetch(
                "SELECT column_name, identity_generation FROM information_schema.columns "
                "WHERE table_schema = $1 AND table_name = 'jobs' ORDER BY ordinal_position",
                schema,
            )
            columns = [
                str(row["column_name"])
                for row in rows
                if row["column_name"] not in _SKIP and row["identity_generation"] != "ALWAYS"
            ]
            values = []
            for column in columns:
                if column == "id":
                    values.append(f"'{ID_PREFIX}' || lpad(to_hex(n), 12, '0')")
                elif column == "state":
                    values.append("$1")
                elif column == "queue":
                    values.append("$2")
                elif column in _RESET:
                    values.append("NULL")
                elif column in ("finished_at", "started_at"):
                    values.append("now()" if state != "pending" else "NULL")
                elif column == "attempt":
                    values.append("1" if state != "pending" else "0")
                else:
                    values.append(f"t.{column}")
            await connection.execute(
                f"INSERT INTO jobs ({', '.join(columns)}) "
                f"SELECT {', '.join(values)} FROM generate_series($3::bigint, $4::bigint) AS n, "
                "jobs AS t WHERE t.id = $5",
                state,
                queue,
                first,
                first + count - 1,
                template_id,
            )
            await connection.execute("ANALYZE jobs")
        finally:
            await connection.close()

    anyio.run(run)
