"""open_store: which DSNs name which store, and clear refusals for the rest."""

from __future__ import annotations

import sqlite3
from pathlib import Path

import pytest

import rota.store.sqlite as sqlite_module
from rota.errors import InvalidInput, ServerUnavailable
from rota.store import open_store
from rota.store.sqlite import SqliteStore


@pytest.mark.parametrize(
    ("dsn", "path"),
    [
        ("rota.db", "rota.db"),
        ("/var/lib/rota/rota.db", "/var/lib/rota/rota.db"),
        ("sqlite:///data/rota.db", "data/rota.db"),
        ("sqlite:////tmp/rota.db", "/tmp/rota.db"),
    ],
)
def test_sqlite_dsns(dsn: str, path: str) -> None:
    store = open_store(dsn)
    assert isinstance(store, SqliteStore)
    assert store.path == Path(path)


@pytest.mark.parametrize("dsn", ["sqlite:///:memory:", ":memory:", "sqlite:///"])
def test_memory_is_refused_clearly(dsn: str) -> None:
    with pytest.raises(InvalidInput, match="in-memory SQLite database is not supported"):
        open_store(dsn)


@pytest.mark.parametrize("dsn", ["postgresql://u@db/rota", "postgres://db/rota"])
def test_postgres_dsns_open_the_postgres_store(dsn: str) -> None:
    from rota.store.postgres import PostgresStore

    assert isinstance(open_store(dsn), PostgresStore)


@pytest.mark.parametrize("dsn", ["mysql://db/rota", "sqlite://rota.db", "", "  "])
def test_other_dsns_name_what_is_accepted(dsn: str) -> None:
    with pytest.raises(InvalidInput, match="sqlite:///"):
        open_store(dsn)


def test_a_postgres_dsn_that_cannot_be_read_is_a_clear_error() -> None:
    with pytest.raises(InvalidInput, match="the PostgreSQL DSN cannot be read: Invalid IPv6"):
        open_store("postgresql://rota@[::1/rota")


async def test_a_missing_directory_is_a_clear_error(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "absent" / "rota.db"))
    with pytest.raises(InvalidInput, match="no such directory"):
        await store.open()


async def test_a_folder_or_a_file_that_is_no_database_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match="it is a folder"):
        await open_store(str(tmp_path)).open()
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    with pytest.raises(InvalidInput, match="not a usable SQLite database: file is not a database"):
        await open_store(str(text)).open()
    assert text.read_text() == "not a database\n" * 100  # left as it was


async def test_a_database_another_process_keeps_locked_is_said_so(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Locked is a passing state of a good database, not a file that is no database."""
    db = tmp_path / "rota.db"
    made = open_store(str(db))
    await made.open()
    await made.close()
    monkeypatch.setattr(sqlite_module, "_BUSY_TIMEOUT_MS", 50)
    holder = sqlite3.connect(db, isolation_level=None)
    holder.execute("PRAGMA journal_mode = DELETE")  # WAL lets readers in: lock it all
    holder.execute("BEGIN EXCLUSIVE")
    try:
        with pytest.raises(ServerUnavailable, match="is locked by another connection"):
            await open_store(str(db)).open()
    finally:
        holder.execute("ROLLBACK")
        holder.close()


@pytest.mark.parametrize("dsn", ["memory:", " MEMORY: "])
def test_memory_names_the_in_memory_store(dsn: str) -> None:
    from rota.store.memory import MemoryStore

    assert isinstance(open_store(dsn), MemoryStore)


def test_memory_with_a_name_is_refused() -> None:
    with pytest.raises(InvalidInput, match="memory:"):
        open_store("memory:named")
