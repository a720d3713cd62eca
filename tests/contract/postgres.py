"""PostgreSQL for tests: a fresh schema per test, in the database ROTA_TEST_POSTGRES_DSN
names, or else in a throw-away cluster started once per test session from the local
PostgreSQL binaries. With neither, the tests that need PostgreSQL are skipped, loudly.

The store under test gets the test's ManualClock: every statement then takes that clock's
moment as "now" instead of the database's, so time-dependent tests run the same on both
backends.
"""

from __future__ import annotations

import asyncio
import atexit
import contextlib
import functools
import os
import shutil
import socket
import subprocess
import tempfile
import time
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from dataclasses import dataclass, field
from pathlib import Path

import asyncpg
import pytest

from rota.clock import Clock
from rota.store import Store
from rota.store.postgres import PostgresStore

DSN_VARIABLE = "ROTA_TEST_POSTGRES_DSN"
BINARY_FOLDERS = (
    "/usr/lib/postgresql/17/bin",
    "/usr/lib/postgresql/16/bin",
    "/usr/lib/postgresql/15/bin",
)
_READY_S = 30.0

Cleanup = Callable[[], Awaitable[None]]


@dataclass(kw_only=True)
class PostgresServer:
    """A database the tests may create schemas in, and what to undo when they end."""

    dsn: str
    process: subprocess.Popen[bytes] | None = None
    folder: Path | None = None
    schemas: list[str] = field(default_factory=list)

    def new_schema(self) -> str:
        """Return a schema name no other test uses (the store creates it on open)."""
        name = f"rota_test_{uuid.uuid4().hex[:16]}"
        self.schemas.append(name)
        return name

    def stop(self) -> None:
        """Drop the tests' schemas, or stop the throw-away cluster and delete its files."""
        if self.process is None:
            if self.schemas:
                asyncio.run(drop_schemas(self.dsn, self.schemas))
            return
        self.process.terminate()  # a "smart" shutdown is enough: no client is left
        try:
            self.process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()
        if self.folder is not None:
            shutil.rmtree(self.folder, ignore_errors=True)


@functools.cache
def postgres_server() -> PostgresServer:
    """Return this test session's PostgreSQL (skip the test when there is none)."""
    dsn = os.environ.get(DSN_VARIABLE, "").strip()
    if dsn:
        server = PostgresServer(dsn=dsn)
    else:
        binaries = find_binaries()
        if binaries is None:
            pytest.skip(
                f"PostgreSQL tests need a server: set {DSN_VARIABLE} to a DSN such as "
                "postgresql://postgres@127.0.0.1:5432/test, or install PostgreSQL's "
                f"binaries (initdb, postgres) in one of {', '.join(BINARY_FOLDERS)}"
            )
        server = start_cluster(binaries)
    atexit.register(server.stop)
    return server


def find_binaries() -> Path | None:
    """Return the folder holding initdb and postgres, or None."""
    for folder in map(Path, BINARY_FOLDERS):
        if (folder / "initdb").is_file() and (folder / "postgres").is_file():
            return folder
    return None


def start_cluster(binaries: Path) -> PostgresServer:
    """Create a cluster in a temporary folder and start it on a free port."""
    folder = Path(tempfile.mkdtemp(prefix="rota-postgres-"))
    user, group = _unprivileged_account(folder)
    data = str(folder / "data")
    initdb = [str(binaries / "initdb"), "-D", data, "-U", "postgres", "-A", "trust"]
    subprocess.run(
        [*initdb, "-E", "UTF8", "--no-sync"],
        check=True,
        capture_output=True,
        user=user,
        group=group,
    )
    port = _free_port()
    # Durability is not what these tests are about: skip the disk flushes.
    options = ["fsync=off", "synchronous_commit=off", "full_page_writes=off"]
    command = [str(binaries / "postgres"), "-D", data, "-p", str(port), "-h", "127.0.0.1"]
    command += ["-k", str(folder), *(arg for option in options for arg in ("-c", option))]
    with (folder / "server.log").open("wb") as log_file:
        process = subprocess.Popen(
            command, stdout=subprocess.DEVNULL, stderr=log_file, user=user, group=group
        )
    dsn = f"postgresql://postgres@127.0.0.1:{port}/postgres"
    server = PostgresServer(dsn=dsn, process=process, folder=folder)
    deadline = time.monotonic() + _READY_S
    while not _accepts_connections(binaries, port):
        if process.poll() is not None or time.monotonic() > deadline:
            server.stop()
            log = (folder / "server.log").read_text(errors="replace")
            raise RuntimeError(f"the test PostgreSQL did not start:\n{log}")
        time.sleep(0.05)
    return server


async def make_postgres_store(
    clock: Clock | None, *, pool_max: int = 4
) -> tuple[PostgresStore, Cleanup]:
    """Open a PostgresStore on a fresh schema; return it and a cleanup that closes it and
    drops the schema. A clock of None leaves the database's clock in charge."""
    server = postgres_server()
    schema = server.new_schema()
    store = PostgresStore(server.dsn, schema=schema, clock=clock, pool_max=pool_max)
    await store.open()

    async def cleanup() -> None:
        await store.close()
        await drop_schemas(server.dsn, [schema])
        server.schemas.remove(schema)

    return store, cleanup


def postgres_backend(tmp_path: Path, clock: Clock) -> Callable[[], Awaitable[Store]]:
    """Return the contract suite's opener: each call opens a store on the test's schema."""
    server = postgres_server()
    schema = server.new_schema()

    async def open_store() -> Store:
        store = PostgresStore(server.dsn, schema=schema, clock=clock, pool_max=4)
        await store.open()
        return store

    return open_store


@contextlib.asynccontextmanager
async def stores_on_one_schema() -> AsyncIterator[Callable[[], Awaitable[PostgresStore]]]:
    """Yield an opener of stores on one fresh schema, as several servers would open them;
    close every store it opened and drop the schema at the end."""
    server = postgres_server()
    schema = server.new_schema()
    stores: list[PostgresStore] = []

    async def open_one() -> PostgresStore:
        store = PostgresStore(server.dsn, schema=schema)
        await store.open()
        stores.append(store)
        return store

    try:
        yield open_one
    finally:
        for store in stores:
            await store.close()
        await drop_schemas(server.dsn, [schema])


async def drop_schemas(dsn: str, schemas: list[str]) -> None:
    """Drop these schemas and everything in them."""
    conn = await asyncpg.connect(dsn)
    try:
        for schema in schemas:
            statement = await conn.fetchval(
                "SELECT format('DROP SCHEMA IF EXISTS %I CASCADE', $1::text)", schema
            )
            await conn.execute(statement)
    finally:
        await conn.close()


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _accepts_connections(binaries: Path, port: int) -> bool:
    ready = subprocess.run(
        [binaries / "pg_isready", "-q", "-h", "127.0.0.1", "-p", str(port), "-t", "1"],
        check=False,
    )
    return ready.returncode == 0


def _unprivileged_account(folder: Path) -> tuple[int | None, int | None]:
    """Return the user and group to run PostgreSQL as (it refuses to run as root)."""
    if os.geteuid() != 0:
        return None, None
    import pwd

    for name in ("postgres", "nobody"):
        try:
            account = pwd.getpwnam(name)
        except KeyError:
            continue
        shutil.chown(folder, account.pw_uid, account.pw_gid)
        return account.pw_uid, account.pw_gid
    pytest.skip("PostgreSQL cannot run as root and there is no other account to run it as")
