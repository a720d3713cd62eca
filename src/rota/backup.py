"""Back up an SQLite store while its server runs, and put a backup back.

A backup goes through SQLite's online backup API (sqlite3.Connection.backup) in one step:
the copy is read in one read transaction, so it is one consistent moment of the store even
while the server writes (in WAL mode readers do not block the writer, nor it them), and
every job the server acknowledged before the backup began is in it. A file copy of a WAL
database is not: the newest pages may still be in the -wal file.

A restore checks the backup (SQLite's integrity_check; a Rota schema no newer than this
Rota's migrations) and copies it into place, again through the backup API, which also
takes care of a -wal file left beside the target. It refuses to overwrite a store that
another process has open (a running server) and, unless forced, any existing store.

PostgreSQL stores are backed up with PostgreSQL's tools (pg_dump, point-in-time recovery):
see docs/deploy.md.
"""

from __future__ import annotations

import os
import sqlite3
from dataclasses import dataclass
from pathlib import Path

from rota.errors import InvalidInput, RotaError
from rota.store.factory import open_store
from rota.store.queries import load_migrations
from rota.store.sqlite import SqliteStore

_SQL_PACKAGE = "rota.store.sql.sqlite"
_BUSY_TIMEOUT_S = 10.0


class BackupError(RotaError):
    """A backup or a restore could not be made; nothing was changed."""


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreFacts:
    """What a store file holds: its schema version and how many jobs."""

    path: Path
    schema_version: int
    jobs: int
    size_bytes: int


def sqlite_path(db: str) -> Path:
    """Return the SQLite file the `db` setting names; InvalidInput for PostgreSQL."""
    store = open_store(db)
    if not isinstance(store, SqliteStore):
        raise InvalidInput(
            "rota backup and rota restore are for SQLite stores; back up PostgreSQL with "
            "pg_dump or point-in-time recovery (docs/deploy.md)"
        )
    return store.path


def known_schema_version() -> int:
    """Return the newest schema version this Rota's migrations create."""
    return len(load_migrations(_SQL_PACKAGE, "migrations"))


def backup(db: Path, target: Path, *, force: bool = False) -> StoreFacts:
    """Copy the store `db` to `target` (a new file unless `force`), consistently, while a
    server may be writing to it. Return what the copy holds.

    Raises BackupError if `db` is not a Rota store or `target` exists (without `force`).
    """
    if not db.is_file():
        raise BackupError(f"there is no store at {db}")
    _check_file_target(target, "back up to")
    if target.exists() and not force:
        raise BackupError(f"{target} exists; give --force to replace it")
    if target.resolve() == db.resolve():
        raise BackupError("the backup must be another file than the store")
    partial = target.with_name(target.name + ".partial")
    partial.unlink(missing_ok=True)
    source = _connect(db, read_only=True)
    try:
        _schema_version(source, db)
        copy = sqlite3.connect(partial, isolation_level=None)
        try:
            source.backup(copy)  # pages=-1: one step, one read transaction, one moment
            copy.execute("PRAGMA journal_mode = DELETE")  # one self-contained file
        finally:
            copy.close()
    finally:
        source.close()
    facts = check(partial)
    _fsync(partial)
    os.replace(partial, target)
    return StoreFacts(
        path=target,
        schema_version=facts.schema_version,
        jobs=facts.jobs,
        size_bytes=facts.size_bytes,
    )


def restore(backup_file: Path, db: Path, *, force: bool = False) -> StoreFacts:
    """Check `backup_file` and put it in place as the store `db`; return what it holds.

    Raises BackupError when the backup fails its checks, when a process (a running server)
    has `db` open, or when `db` exists and `force` is not given.
    """
    check(backup_file)
    _check_file_target(db, "restore to")
    if db.exists() and not force:
        raise BackupError(
            f"{db} exists; stop its server and give --force to replace it with the backup"
        )
    target = sqlite3.connect(db, timeout=0, isolation_level=None)
    try:
        try:
            # Exclusive locking needs every other connection to the file closed.
            target.execute("PRAGMA locking_mode = EXCLUSIVE")
            target.execute("BEGIN EXCLUSIVE")
            target.execute("ROLLBACK")
        except sqlite3.OperationalError:
            raise BackupError(
                f"{db} is in use (is its server running?): stop the server, then restore"
            ) from None
        source = _connect(backup_file, read_only=True)
        try:
            source.backup(target)
        finally:
            source.close()
        target.execute("PRAGMA journal_mode = WAL")
    finally:
        target.close()
    return check(db)


def check(path: Path) -> StoreFacts:
    """Return what the store file at `path` holds, after SQLite's integrity check.

    Raises BackupError if it is not an SQLite file, fails the check, is not a Rota store,
    or has a schema newer than this Rota knows.
    """
    if not path.is_file():
        raise BackupError(f"there is no file at {path}")
    conn = _connect(path, read_only=True)
    try:
        try:
            problems = [row[0] for row in conn.execute("PRAGMA integrity_check")]
        except sqlite3.DatabaseError as exc:
            raise BackupError(f"{path} is not a usable SQLite database: {exc}") from None
        if problems != ["ok"]:
            raise BackupError(f"{path} fails SQLite's integrity check: {problems[:3]}")
        version = _schema_version(conn, path)
        jobs = int(conn.execute("SELECT count(*) FROM jobs").fetchone()[0])
    finally:
        conn.close()
    newest = known_schema_version()
    if version > newest:
        raise BackupError(
            f"{path} has schema version {version}, newer than this Rota's {newest}: "
            "restore it with the Rota that made it"
        )
    return StoreFacts(path=path, schema_version=version, jobs=jobs, size_bytes=_size(path))


def _check_file_target(path: Path, verb: str) -> None:
    """Raise BackupError unless `path` can be written as a file: its folder exists and it is
    not itself a folder (SQLite would fail with "unable to open database file")."""
    if path.is_dir():
        raise BackupError(f"cannot {verb} {path}: it is a folder; name a file in it")
    if not path.parent.is_dir():
        raise BackupError(f"cannot {verb} {path}: no such directory")


def _connect(path: Path, *, read_only: bool) -> sqlite3.Connection:
    conn = sqlite3.connect(path, timeout=_BUSY_TIMEOUT_S, isolation_level=None)
    if read_only:
        conn.execute("PRAGMA query_only = ON")
    return conn


def _schema_version(conn: sqlite3.Connection, path: Path) -> int:
    try:
        row = conn.execute("SELECT max(version) FROM schema_version").fetchone()
    except sqlite3.DatabaseError:
        raise BackupError(f"{path} is not a Rota store (it has no schema_version)") from None
    if row is None or row[0] is None:
        raise BackupError(f"{path} is not a Rota store (no migration was applied)")
    return int(row[0])


def _size(path: Path) -> int:
    return sum(
        candidate.stat().st_size
        for candidate in (path, path.with_name(path.name + "-wal"))
        if candidate.exists()
    )


def _fsync(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
