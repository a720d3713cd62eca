"""Real Rota processes for one workload: a server on a fresh store, and worker processes.

The store is an SQLite file in a temporary folder, or a schema of its own in the PostgreSQL
database named by a DSN (dropped at the end). Every process runs in a session of its own so
that a SIGKILL reaches all of it; nothing started here outlives `close()`.
"""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from types import TracebackType
from typing import Self
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

import anyio

from rota.bench.results import BenchError
from rota.bench.tasks import REDIS_ENV
from rota.cli.orphans import ParentLink
from rota.errors import RotaError
from rota.sync import Client

READY_TIMEOUT_S = 60.0
STOP_TIMEOUT_S = 10.0
TASKS_MODULE = "rota.bench.tasks"


@dataclass(frozen=True, kw_only=True, slots=True)
class StoreChoice:
    """Which store a bench cluster uses: "sqlite", or "postgres" with the DSN to use."""

    kind: str
    dsn: str | None = None

    @property
    def label(self) -> str:
        """Return the column heading of this store's results."""
        return f"rota ({self.kind})"


@dataclass(kw_only=True)
class Process:
    """One started process and the log it writes."""

    label: str
    popen: subprocess.Popen[bytes]
    log: Path

    def alive(self) -> bool:
        """Tell whether the process still runs."""
        return self.popen.poll() is None

    def signal_group(self, signum: int) -> None:
        """Send a signal to the process's whole session, if it still runs."""
        if self.alive():
            try:
                os.killpg(self.popen.pid, signum)
            except ProcessLookupError:
                pass


@dataclass(kw_only=True)
class RotaCluster:
    """A server on a fresh store and the workers a workload starts; a context manager."""

    store: StoreChoice
    redis_url: str | None = None
    folder: Path = field(default_factory=lambda: Path(tempfile.mkdtemp(prefix="rota-bench-")))
    port: int = 0
    server: Process | None = None
    workers: list[Process] = field(default_factory=list)
    client: Client | None = None
    _schema: str | None = None
    # Its server and workers stop when the bench is gone, even killed with SIGKILL (a pipe,
    # not prctl: workloads may start processes from threads that end before the process).
    _link: ParentLink = field(default_factory=lambda: ParentLink(use_prctl=False))

    def __enter__(self) -> Self:
        if self.store.kind == "postgres":
            if not self.store.dsn:
                raise BenchError("--store postgres needs a DSN (--postgres or ROTA_BENCH_POSTGRES)")
            self._schema = f"rota_bench_{uuid.uuid4().hex[:12]}"
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    @property
    def db(self) -> str:
        """Return the --db value of the server: the SQLite file or the DSN with its schema."""
        if self.store.kind == "sqlite":
            return str(self.folder / "bench.db")
        assert self.store.dsn is not None and self._schema is not None
        return with_schema(self.store.dsn, self._schema)

    @property
    def schema(self) -> str | None:
        """Return the PostgreSQL schema of this cluster (None on SQLite)."""
        return self._schema

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return f"http://127.0.0.1:{self.port}"

    def migrate(self) -> None:
        """Create the store's schema without starting a server."""
        done = subprocess.run(
            [*_rota(), "migrate", "--db", self.db],
            capture_output=True,
            check=False,
            cwd=self.folder,
        )
        if done.returncode != 0:
            raise BenchError(f"rota migrate failed: {done.stderr.decode(errors='replace')[-500:]}")

    def start_server(self, *, durability: str = "full") -> Client:
        """Start the server on a free port and return a client once it answers.

        `durability` is the store's setting (see rota.store.base.Durability)."""
        self.port = free_port()
        self.server = self._spawn(
            "server",
            [*_rota(), "server", "--db", self.db, "--port", str(self.port), "--anonymous"],
            env={"ROTA_DURABILITY": durability},
        )
        if self.client is None:
            self.client = Client(self.url, timeout_s=120.0)
        client = self.client
        self.wait_until(lambda: _healthy(client), "the server to answer")
        return client

    def stop_server(self) -> None:
        """Stop the server (SIGTERM, then SIGKILL) and keep its store."""
        if self.client is not None:
            self.client.close()
            self.client = None
        if self.server is not None:
            _stop([self.server])
            self.server = None

    def start_workers(
        self,
        count: int,
        *,
        concurrency: int,
        queue: str,
        prefix: str = "bench",
        prefetch: int = 0,
    ) -> list[Process]:
        """Start `count` worker processes on `queue` and wait until all are online.

        They are named "<prefix>-1", "<prefix>-2" ... on from the workers started before;
        each runs `concurrency` jobs at once and takes `prefetch` more.
        """
        first = len(self.workers)
        started = []
        for number in range(first + 1, first + count + 1):
            started.append(
                self._spawn(
                    f"worker-{number}",
                    [
                        *_rota(),
                        "worker",
                        "--server",
                        self.url,
                        "--name",
                        f"{prefix}-{number}",
                        "--queues",
                        queue,
                        "--concurrency",
                        str(concurrency),
                        "--prefetch",
                        str(prefetch),
                        "--import",
                        TASKS_MODULE,
                        "--drain-grace",
                        "1",
                    ],
                )
            )
        self.workers.extend(started)
        names = {f"{prefix}-{number}" for number in range(first + 1, first + count + 1)}
        client = self.require_client()
        self.wait_until(lambda: names <= _online(client), f"{count} worker(s) to connect")
        return started

    def register_tasks(self) -> None:
        """Make the server know the bench's tasks before any worker takes jobs.

        A server accepts only tasks a worker has announced (the store keeps them), so one
        worker on a queue nobody submits to starts, announces them, and stops.
        """
        before = list(self.workers)
        self.start_workers(1, concurrency=1, queue="bench-register", prefix="register")
        _stop(self.workers[len(before) :])
        self.workers = before

    def stop_workers(self) -> None:
        """Stop every worker this cluster started."""
        _stop(self.workers)
        self.workers = []

    def require_client(self) -> Client:
        """Return the client of the running server."""
        if self.client is None:
            raise BenchError("the bench server is not running")
        return self.client

    def wait_until(
        self, ready: Callable[[], bool], what: str, timeout_s: float = READY_TIMEOUT_S
    ) -> None:
        """Poll `ready` until it holds; BenchError if the server dies or time runs out."""
        deadline = time.monotonic() + timeout_s
        while not ready():
            if self.server is not None and not self.server.alive():
                raise BenchError(f"the bench server exited while waiting for {what}: {self.tail()}")
            if time.monotonic() > deadline:
                raise BenchError(f"timed out after {timeout_s:g} s waiting for {what}")
            time.sleep(0.05)

    def tail(self) -> str:
        """Return the end of the server's log, for an error message."""
        log = self.folder / "server.log"
        if not log.exists():
            return ""
        return log.read_text(errors="replace")[-800:]

    def close(self) -> None:
        """Stop everything, drop the PostgreSQL schema, remove the folder."""
        try:
            if self.client is not None:
                self.client.close()
                self.client = None
            _stop([*self.workers, *([self.server] if self.server else [])])
            self.workers = []
            self.server = None
            if self._schema is not None and self.store.dsn:
                drop_schema(self.store.dsn, self._schema)
        finally:
            self._link.close()
            shutil.rmtree(self.folder, ignore_errors=True)

    def _spawn(self, label: str, argv: list[str], env: dict[str, str] | None = None) -> Process:
        given = env or {}
        env = {key: value for key, value in os.environ.items() if not key.startswith("ROTA_")}
        env.update(given)
        if self.redis_url:
            env[REDIS_ENV] = self.redis_url
        log = self.folder / f"{label}.log"
        with log.open("ab") as out:
            popen = self._link.popen(
                argv,
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
                start_new_session=True,
                cwd=self.folder,
            )
        return Process(label=label, popen=popen, log=log)


def with_schema(dsn: str, schema: str) -> str:
    """Return the DSN with its `schema=` query parameter set to `schema`."""
    parts = urlsplit(dsn)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "schema"]
    query.append(("schema", schema))
    return urlunsplit(parts._replace(query=urlencode(query)))


def without_schema(dsn: str) -> str:
    """Return the DSN without a `schema=` query parameter (as asyncpg takes it)."""
    parts = urlsplit(dsn)
    query = [(key, value) for key, value in parse_qsl(parts.query) if key != "schema"]
    return urlunsplit(parts._replace(query=urlencode(query)))


def drop_schema(dsn: str, schema: str) -> None:
    """Drop a bench schema and everything in it; a failure is left for the operator."""
    import asyncpg

    async def run() -> None:
        connection = await asyncpg.connect(without_schema(dsn))
        try:
            await connection.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await connection.close()

    try:
        anyio.run(run)
    except (OSError, asyncpg.PostgresError):
        pass


def free_port() -> int:
    """Return a loopback port nobody listens on right now."""
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port


def _rota() -> list[str]:
    return [sys.executable, "-m", "rota.cli.main"]


def _healthy(client: Client) -> bool:
    try:
        client.health()
    except RotaError:
        return False
    return True


def _online(client: Client) -> set[str]:
    try:
        return {str(w["name"]) for w in client.workers() if w["state"] == "online"}
    except RotaError:
        return set()


def _stop(processes: list[Process]) -> None:
    for process in processes:
        process.signal_group(signal.SIGTERM)
    for process in processes:
        try:
            process.popen.wait(STOP_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.signal_group(signal.SIGKILL)
            process.popen.wait(STOP_TIMEOUT_S)
