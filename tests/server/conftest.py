"""Fixtures for the server's tests: a real SQLite store, the app, a live server, fake workers."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import uvicorn
from fastapi import FastAPI

from rota.server.app import create_app
from rota.server.connections import protocols
from rota.settings import Settings, settings_of
from rota.store.base import Store
from rota.store.factory import open_store
from tests.server.fakes import FakeWorker

MakeSettings = Callable[..., Settings]


@pytest.fixture
def db_path(tmp_path: Path) -> str:
    return str(tmp_path / "t.db")


@pytest.fixture
def make_settings(db_path: str) -> MakeSettings:
    """Return settings tuned for quick tests; keyword arguments override them."""

    def make(**overrides: Any) -> Settings:
        values: dict[str, Any] = {
            "db": db_path,
            "port": 0,
            "lease_s": 5.0,
            "heartbeat_s": 1.0,
            "disconnect_grace_s": 0.2,
            "reaper_interval_s": 0.05,
            "anonymous": True,
        }
        values.update(overrides)
        return settings_of(values)

    return make


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    return make_settings()


@pytest.fixture
async def store(db_path: str) -> AsyncIterator[Store]:
    opened = open_store(db_path)
    await opened.open()
    yield opened
    await opened.close()


@pytest.fixture
async def app(settings: Settings, store: Store) -> AsyncIterator[FastAPI]:
    application = create_app(settings, store)
    async with application.router.lifespan_context(application):
        yield application


@pytest.fixture
async def client(app: FastAPI) -> AsyncIterator[httpx.AsyncClient]:
    transport = httpx.ASGITransport(app)
    async with httpx.AsyncClient(transport=transport, base_url="http://localhost") as http:
        yield http


class _QuietServer(uvicorn.Server):
    """uvicorn without signal handling (the test runner owns the signals)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LiveServer:
    """A real uvicorn server on a free loopback port, in the test's event loop."""

    def __init__(self, app: FastAPI, port: int) -> None:
        self.app = app
        self.url = f"http://127.0.0.1:{port}"
        self.ws_url = f"ws://127.0.0.1:{port}"
        self.http = httpx.AsyncClient(base_url=self.url, timeout=10)
        self._workers: list[FakeWorker] = []

    def fake(self, name: str, **options: Any) -> FakeWorker:
        """Return a fake worker for this server, not yet connected."""
        worker = FakeWorker(self.ws_url, name=name, **options)
        self._workers.append(worker)
        return worker

    async def worker(self, name: str, **options: Any) -> FakeWorker:
        """Connect a fake worker and return it once welcomed."""
        worker = self.fake(name, **options)
        await worker.connect()
        return worker

    async def close_workers(self) -> None:
        for worker in self._workers:
            await worker.close()


StartServer = Callable[..., Awaitable[LiveServer]]


@pytest.fixture
async def start_server(make_settings: MakeSettings, store: Store) -> AsyncIterator[StartServer]:
    """Return a function that starts a live server with settings overridden as given; on
    another store than the test's (`on`, open: one several servers share) and under a
    server name of its own (`server_name`), if given."""
    running: list[tuple[LiveServer, _QuietServer, asyncio.Task[None]]] = []

    async def start(
        *, on: Store | None = None, server_name: str | None = None, **overrides: Any
    ) -> LiveServer:
        settings = make_settings(**overrides)
        application = create_app(settings, store if on is None else on)
        if server_name is not None:
            application.state.hub.server_name = server_name
        guarded = protocols(settings.server)  # as `rota server` runs
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=0,
            log_level="warning",
            http=guarded.http,
            ws=guarded.ws,
            lifespan="on",
        )
        server = _QuietServer(config)
        task = asyncio.create_task(server.serve())
        await asyncio.wait_for(server.listening.wait(), 10)
        port = server.servers[0].sockets[0].getsockname()[1]
        live = LiveServer(application, port)
        running.append((live, server, task))
        return live

    yield start
    for live, server, task in running:
        await live.close_workers()
        await live.http.aclose()
        server.should_exit = True
        await asyncio.wait_for(task, 10)
