"""A real Rota server and a worker in this process, for tests that want the whole path.

The server listens on a free loopback port and keeps its jobs in the in-memory store;
the worker runs the given app's tasks (and Rota's built-in ones) and registers the
schedules the app declares. Both run on one event loop in a thread of their own, so a test
uses them from sync code or from its own event loop alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import Iterator, Mapping
from types import TracebackType
from typing import Any, Self

import uvicorn

from rota.clock import SYSTEM_CLOCK
from rota.errors import RotaError
from rota.protocol import MAX_FRAME_BYTES
from rota.server.app import create_app
from rota.settings import Settings, settings_of
from rota.store.base import Store
from rota.store.factory import open_store
from rota.sync import Client
from rota.tasks.registry import TaskRegistry
from rota.worker.main import build_registry
from rota.worker.periodic import with_periodic
from rota.worker.runtime import Worker

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 30.0
WORKER_NAME = "rota-testing"
MEMORY_STORE = "memory:"

QUICK_SETTINGS: Mapping[str, Any] = {
    "port": 0,
    "heartbeat_s": 1.0,
    "disconnect_grace_s": 0.2,
    "reaper_interval_s": 0.05,
    "drain_grace_s": 5.0,
    "stop_grace_s": 2.0,
}
"""Settings that keep a test quick; any key given to LocalRota overrides them."""


class _QuietServer(uvicorn.Server):
    """uvicorn that leaves the process's signals alone (the test runner owns them)."""

    def __init__(self, config: uvicorn.Config) -> None:
        super().__init__(config)
        self.listening = asyncio.Event()

    async def startup(self, sockets: Any = None) -> None:
        await super().startup(sockets=sockets)
        self.listening.set()

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


class LocalRota:
    """A server on an in-memory store and one worker running `registry`'s tasks.

        with LocalRota(app.registry) as rota:
            app.url = rota.url
            ...

    `settings` override keys of QUICK_SETTINGS or any other setting (by key or
    "section.key"); `db` defaults to "memory:" (any store `rota server --db` takes will do).
    Raises RotaError when the server or the worker does not come up in time.
    """

    def __init__(
        self,
        registry: TaskRegistry | None = None,
        *,
        db: str | None = None,
        settings: Mapping[str, Any] | None = None,
    ) -> None:
        self.registry = build_registry([])
        if registry is not None:
            self.registry.merge(registry)
        self.db = db or MEMORY_STORE
        self._overrides = {**QUICK_SETTINGS, "db": self.db, **(settings or {})}
        self.url = ""
        """The server's base URL, once started."""
        self.worker_lines: list[str] = []
        """What the worker reported (connections, schedules it could not register, …)."""
        self._loop: asyncio.AbstractEventLoop | None = None
        self._stop: asyncio.Event | None = None
        self._ready = threading.Event()
        self._failure: BaseException | None = None
        self._thread: threading.Thread | None = None
        self._client: Client | None = None

    @property
    def client(self) -> Client:
        """Return a sync client of the server, created on first use, closed on stop."""
        if self._client is None:
            self._client = Client(self.url)
        return self._client

    def start(self) -> Self:
        """Start the server and the worker; return once the worker is online."""
        self._thread = threading.Thread(target=self._thread_main, name="rota-testing", daemon=True)
        self._thread.start()
        if not self._ready.wait(START_TIMEOUT_S) or self._failure is not None:
            self.stop()
            raise RotaError(f"the in-process Rota server did not start: {self._failure!r}")
        self._wait_for_worker()
        return self

    def stop(self) -> None:
        """Drain the worker, stop the server and close the store."""
        if self._client is not None:
            self._client.close()
            self._client = None
        loop, stop = self._loop, self._stop
        if loop is not None and stop is not None and not loop.is_closed():
            with contextlib.suppress(RuntimeError):  # the loop ended meanwhile
                loop.call_soon_threadsafe(stop.set)
        if self._thread is not None:
            self._thread.join(STOP_TIMEOUT_S)
            self._thread = None

    def __enter__(self) -> Self:
        return self.start()

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def _wait_for_worker(self) -> None:
        deadline = SYSTEM_CLOCK.monotonic() + START_TIMEOUT_S
        while SYSTEM_CLOCK.monotonic() < deadline:
            if any(worker.get("name") == WORKER_NAME for worker in self.client.workers()):
                return
            threading.Event().wait(0.02)
        self.stop()
        raise RotaError(
            "the in-process Rota worker did not connect: " + "; ".join(self.worker_lines[-3:])
        )

    def _thread_main(self) -> None:
        try:
            asyncio.run(self._main())
        except BaseException as exc:  # reported to start() or seen by stop()
            self._failure = exc
            self._ready.set()

    async def _main(self) -> None:
        self._loop = asyncio.get_running_loop()
        self._stop = asyncio.Event()
        settings = settings_of({"anonymous": True, **self._overrides})  # on loopback only
        store = open_store(settings.store.db, durability=settings.store.durability)
        await store.open()
        try:
            await self._serve(settings, store)
        finally:
            await store.close()

    async def _serve(self, settings: Settings, store: Store) -> None:
        application = create_app(settings, store)
        config = uvicorn.Config(
            application,
            host="127.0.0.1",
            port=settings.server.port,
            log_level="warning",
            ws="websockets-sansio",
            ws_max_size=MAX_FRAME_BYTES + 1024,
            lifespan="on",
        )
        server = _QuietServer(config)
        serving = asyncio.create_task(server.serve(), name="rota-testing-server")
        try:
            async with asyncio.timeout(START_TIMEOUT_S):
                await server.listening.wait()
            port = server.servers[0].sockets[0].getsockname()[1]
            self.url = f"http://127.0.0.1:{port}"
            await self._work(settings)
        finally:
            server.should_exit = True
            await serving

    async def _work(self, settings: Settings) -> None:
        worker_settings = settings_of(
            {
                **self._overrides,
                "server": [self.url],
                "name": WORKER_NAME,
            }
        )
        worker = Worker(worker_settings, self.registry, report=self.worker_lines.append)
        running = asyncio.create_task(
            with_periodic(
                _ok(worker.run()), self.registry.periodic, [self.url], self.worker_lines.append
            ),
            name="rota-testing-worker",
        )
        self._ready.set()
        assert self._stop is not None
        stop = asyncio.create_task(self._stop.wait())
        await asyncio.wait([running, stop], return_when=asyncio.FIRST_COMPLETED)
        worker.request_drain()
        stop.cancel()
        await running


async def _ok(run: Any) -> int:
    """Return 0 once the worker's run() ends; with_periodic wants an exit code."""
    await run
    return 0
