"""PostgreSQL for end-to-end tests: a fresh database on the shared server, or a throw-away
cluster of the test's own that it can stop and start again."""

from __future__ import annotations

import asyncio
import os
import pwd
import shutil
import signal
import subprocess
import tempfile
import time
import uuid
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from tests.contract.postgres import find_binaries, postgres_server
from tests.e2e.conftest import free_port


def query(dsn: str, sql: str, *args: Any) -> list[asyncpg.Record]:
    """Run one query on a short-lived connection and return its rows."""

    async def run() -> list[asyncpg.Record]:
        connection = await asyncpg.connect(dsn)
        try:
            return list(await connection.fetch(sql, *args))
        finally:
            await connection.close()

    return asyncio.run(run())


def fresh_database() -> tuple[str, str]:
    """Create an empty database on the test PostgreSQL; return (its DSN, the admin DSN)."""
    admin = postgres_server().dsn
    name = f"rota_e2e_{uuid.uuid4().hex[:12]}"
    query(admin, f'CREATE DATABASE "{name}"')
    return admin.rsplit("/", 1)[0] + "/" + name, admin


def drop_database(admin: str, dsn: str) -> None:
    name = dsn.rsplit("/", 1)[1]
    query(admin, f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


class OwnCluster:
    """A PostgreSQL cluster in a temporary folder on a free port, that a test may restart."""

    def __init__(self) -> None:
        binaries = find_binaries()
        if binaries is None:
            pytest.fail("restarting PostgreSQL needs its binaries (initdb, postgres) installed")
        self.binaries = binaries
        self.folder = Path(tempfile.mkdtemp(prefix="rota-e2e-pg-"))
        self.port = free_port()
        self.user: int | None = None
        self.group: int | None = None
        if os.geteuid() == 0:  # PostgreSQL refuses to run as root
            account = pwd.getpwnam("postgres")
            self.user, self.group = account.pw_uid, account.pw_gid
            shutil.chown(self.folder, self.user, self.group)
        subprocess.run(
            [str(binaries / "initdb"), "-D", str(self.data), "-U", "postgres", "-A", "trust"],
            check=True,
            capture_output=True,
            user=self.user,
            group=self.group,
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def data(self) -> Path:
        return self.folder / "data"

    @property
    def dsn(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def start(self) -> None:
        command = [str(self.binaries / "postgres"), "-D", str(self.data), "-p", str(self.port)]
        command += ["-h", "127.0.0.1", "-k", str(self.folder)]
        with (self.folder / "server.log").open("ab") as log:
            self.process = subprocess.Popen(
                command, stdout=subprocess.DEVNULL, stderr=log, user=self.user, group=self.group
            )
        deadline = time.monotonic() + 30
        while not self._ready():
            if self.process.poll() is not None or time.monotonic() > deadline:
                pytest.fail("the test PostgreSQL did not start: " + self.log())
            time.sleep(0.1)

    def stop(self) -> None:
        """Stop the way an operator's restart does: a fast shutdown, clients cut off."""
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGINT)
            self.process.wait(timeout=30)

    def destroy(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait()
        shutil.rmtree(self.folder, ignore_errors=True)

    def log(self) -> str:
        return (self.folder / "server.log").read_text(errors="replace")[-3000:]

    def _ready(self) -> bool:
        probe = [str(self.binaries / "pg_isready"), "-q", "-h", "127.0.0.1", "-p", str(self.port)]
        return subprocess.run(probe, check=False).returncode == 0
