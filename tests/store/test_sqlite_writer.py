"""The SQLite writer: an operation alone in its transaction, or many sharing one, each
failure undoing only its own operation's changes."""

from __future__ import annotations

import asyncio
import sqlite3
from collections.abc import Callable
from pathlib import Path

import pytest

from rota.store.sqlite_writer import SqliteWriter


def connect(path: Path) -> sqlite3.Connection:
    conn = sqlite3.connect(path, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL")
    conn.execute("CREATE TABLE IF NOT EXISTS t (v INTEGER)")
    return conn


def rows(path: Path) -> list[int]:
    with sqlite3.connect(path) as conn:
        return sorted(v for (v,) in conn.execute("SELECT v FROM t"))


def insert(value: int, *, fail: bool = False) -> Callable[[sqlite3.Connection], int]:
    def operation(conn: sqlite3.Connection) -> int:
        conn.execute("INSERT INTO t (v) VALUES (?)", (value,))
        if fail:
            raise ValueError(f"refused {value}")
        return value

    return operation


async def test_an_operation_alone_commits_or_undoes_all_of_itself(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = SqliteWriter(lambda: connect(path))
    await writer.start()
    try:
        assert await writer.run(insert(1)) == 1
        with pytest.raises(ValueError, match="refused 2"):
            await writer.run(insert(2, fail=True))
        assert await writer.run(insert(3)) == 3
    finally:
        await writer.stop()
    assert rows(path) == [1, 3]


async def test_operations_in_one_group_fail_alone(tmp_path: Path) -> None:
    path = tmp_path / "w.db"
    writer = SqliteWriter(lambda: connect(path))
    await writer.start()
    try:
        outcomes = await asyncio.gather(
            *(writer.run(insert(n, fail=n % 2 == 0)) for n in range(1, 9)),
            return_exceptions=True,
        )
    finally:
        await writer.stop()
    assert [o if isinstance(o, int) else "refused" for o in outcomes] == [
        1,
        "refused",
        3,
        "refused",
        5,
        "refused",
        7,
        "refused",
    ]
    assert rows(path) == [1, 3, 5, 7]
