"""serve(): run one Rota server until SIGINT or SIGTERM, then stop cleanly."""

from __future__ import annotations

import asyncio
import contextlib
import signal
import socket
import sys
from collections.abc import Callable, Iterator

import uvicorn

from rota.auth.bootstrap import first_admin_notice, first_admin_token
from rota.protocol import MAX_FRAME_BYTES
from rota.server.app import create_app
from rota.settings import Settings
from rota.store.factory import open_store
from rota.tls import SERVER_CIPHERS, server_context


class _Server(uvicorn.Server):
    """uvicorn's server, announcing itself once listening, minus its signal handling.

    uvicorn re-raises a caught signal after shutting down, which would end the process
    (SIGTERM) or raise KeyboardInterrupt (SIGINT) before the store is closed; serve()
    installs handlers of its own instead.
    """

    def __init__(
        self,
        config: uvicorn.Config,
        *,
        on_started: Callable[[int], None],
        on_stopping: Callable[[], None] = lambda: None,
    ) -> None:
        super().__init__(config)
        self._on_started = on_started
        self._on_stopping = on_stopping

    async def startup(self, sockets: list[socket.socket] | None = None) -> None:
        await super().startup(sockets=sockets)
        if self.started:
            self._on_started(_bound_port(self))

    async def shutdown(self, sockets: list[socket.socket] | None = None) -> None:
        # Before uvicorn closes the connections: the hub ends endless responses (event
        # streams), or uvicorn would wait on them forever, and workers keep their leases.
        self._on_stopping()
        await super().shutdown(sockets=sockets)

    @contextlib.contextmanager
    def capture_signals(self) -> Iterator[None]:
        yield


async def serve(settings: Settings) -> None:
    """Open the store, serve the API and the worker gateway until told to stop, close the store.

    Prints "Rota server on http(s)://HOST:PORT (db: ...)" to stderr once it is listening; with
    port 0 the line names the port the system chose. Raises InvalidInput, before opening
    anything, when the TLS certificate or key cannot be used (rota.tls.server_context).
    """
    tls = settings.tls
    if tls.certfile is not None and tls.keyfile is not None:
        # InvalidInput naming the file, where uvicorn would raise OpenSSL's error.
        await asyncio.to_thread(server_context, tls.certfile, tls.keyfile)
    store = open_store(settings.store.db, durability=settings.store.durability)
    await store.open()
    try:
        if not settings.auth.anonymous:
            secret = await first_admin_token(store)
            if secret is not None:
                sys.stderr.write(first_admin_notice(secret))
                sys.stderr.flush()
        app = create_app(settings, store)
        config = uvicorn.Config(
            app,
            host=settings.server.host,
            port=settings.server.port,
            log_level="warning",
            ws="websockets-sansio",
            ws_max_size=MAX_FRAME_BYTES + 1024,
            lifespan="on",
            ssl_certfile=tls.certfile,
            ssl_keyfile=tls.keyfile,
            ssl_ciphers=SERVER_CIPHERS,
        )
        scheme = "https" if settings.tls.enabled else "http"
        host, db = _url_host(settings.server.host), settings.store.db

        def announce(port: int) -> None:
            sys.stderr.write(f"Rota server on {scheme}://{host}:{port} (db: {db})\n")
            sys.stderr.flush()

        server = _Server(config, on_started=announce, on_stopping=app.state.hub.begin_stopping)
        with _stop_on_signals(server):
            await server.serve()
    finally:
        await store.close()


@contextlib.contextmanager
def _stop_on_signals(server: uvicorn.Server) -> Iterator[None]:
    """Make SIGINT and SIGTERM shut the server down gracefully; a second SIGINT forces it."""
    loop = asyncio.get_running_loop()
    installed: list[signal.Signals] = []

    def stop(sig: signal.Signals) -> None:
        if server.should_exit and sig == signal.SIGINT:
            server.force_exit = True
        server.should_exit = True

    for sig in (signal.SIGINT, signal.SIGTERM):
        try:
            loop.add_signal_handler(sig, stop, sig)
        except (NotImplementedError, RuntimeError, ValueError):
            continue  # not the main thread, or a platform without it
        installed.append(sig)
    try:
        yield
    finally:
        for sig in installed:
            loop.remove_signal_handler(sig)


def _bound_port(server: uvicorn.Server) -> int:
    for listener in server.servers:
        for sock in listener.sockets:
            port: int = sock.getsockname()[1]
            return port
    return server.config.port


def _url_host(host: str) -> str:
    return f"[{host}]" if ":" in host and not host.startswith("[") else host
