"""A real Rota server (real SQLite store, real uvicorn) on a loopback port, in a thread; and a
real worker process. The fixtures are re-exported by the conftest files that use them."""

from __future__ import annotations

import asyncio
import os
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Coroutine, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, TypeVar

import pytest
import uvicorn

from rota.server.app import create_app
from rota.settings import load_settings
from rota.store.base import Store, WorkerInfo
from rota.store.factory import open_store

T = TypeVar("T")
START_TIMEOUT_S = 10.0
ROOT = Path(__file__).resolve().parents[2]


def free_port() -> int:
    """Return a loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


@dataclass
class LiveServer:
    """A running server: its URL, and its store reachable on the server's own loop."""

    url: str
    store: Store
    loop: asyncio.AbstractEventLoop
    server: uvicorn.Server

    def run(self, coroutine: Coroutine[Any, Any, T]) -> T:
        """Run a coroutine on the server's loop (where the store lives) and return its value."""
        return asyncio.run_coroutine_threadsafe(coroutine, self.loop).result(START_TIMEOUT_S)


def start_live_server(
    db: Path,
    *,
    strict_tasks: bool = True,
    tls: tuple[Path, Path] | None = None,
    anonymous: bool = True,
) -> tuple[LiveServer, threading.Thread]:
    """Start a server on an SQLite file in a thread of its own; return it once it listens.

    `tls`: its certificate and key files, to serve https:// instead of http://.
    `anonymous=False`: every request but the open ones needs a token."""
    port = free_port()
    settings = load_settings(
        {"db": str(db), "port": port, "strict_tasks": strict_tasks, "anonymous": anonymous},
        environ={},
    )
    ready = threading.Event()
    holder: dict[str, Any] = {}

    async def main() -> None:
        store = open_store(settings.store.db)
        await store.open()
        try:
            config = uvicorn.Config(
                create_app(settings, store),
                host="127.0.0.1",
                port=port,
                log_level="warning",
                ws="websockets-sansio",
                lifespan="on",
                ssl_certfile=None if tls is None else tls[0],
                ssl_keyfile=None if tls is None else tls[1],
            )
            server = uvicorn.Server(config)
            holder.update(store=store, server=server, loop=asyncio.get_running_loop())
            serving = asyncio.create_task(server.serve())
            while not server.started and not serving.done():  # noqa: ASYNC110 (uvicorn sets a flag)
                await asyncio.sleep(0.01)
            ready.set()
            await serving
        finally:
            await store.close()
            ready.set()

    thread = threading.Thread(target=lambda: asyncio.run(main()), daemon=True)
    thread.start()
    if not ready.wait(START_TIMEOUT_S) or not holder.get("server") or not holder["server"].started:
        raise RuntimeError("the test server did not start")
    live = LiveServer(
        url=f"{'http' if tls is None else 'https'}://127.0.0.1:{port}",
        store=holder["store"],
        loop=holder["loop"],
        server=holder["server"],
    )
    return live, thread


@contextmanager
def running_server(
    db: Path,
    *,
    strict_tasks: bool = True,
    tls: tuple[Path, Path] | None = None,
    anonymous: bool = True,
) -> Iterator[LiveServer]:
    """Run a server for the length of the block (over TLS with `tls`: certificate, key)."""
    live, thread = start_live_server(db, strict_tasks=strict_tasks, tls=tls, anonymous=anonymous)
    try:
        yield live
    finally:
        live.server.should_exit = True
        thread.join(START_TIMEOUT_S)


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A fresh server on a fresh database, stopped after the test."""
    with running_server(tmp_path / "rota.db") as live:
        yield live


@contextmanager
def running_worker(
    live: LiveServer, log_path: Path, args: list[str], ready: Callable[[WorkerInfo], bool]
) -> Iterator[subprocess.Popen[bytes]]:
    """Run `rota worker --server <live> *args` until the block ends; enter once the store
    lists a worker for which `ready` holds (RuntimeError with its log if it exits or is
    not ready within START_TIMEOUT_S)."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    log = log_path.open("wb")
    process = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", "worker", "--server", live.url, *args],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(ready(worker) for worker in live.run(live.store.list_workers())):
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise RuntimeError(log_path.read_text(errors="replace"))
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


@pytest.fixture
def worker_process(live_server: LiveServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `rota worker` process that imports tests.client.sample_app; online when yielded."""
    with running_worker(
        live_server,
        tmp_path / "worker.log",
        ["--name", "test-worker", "--import", "tests.client.sample_app"],
        lambda worker: worker.name == "test-worker" and worker.state == "online",
    ) as process:
        yield process
