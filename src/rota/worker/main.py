"""The `rota worker` entry point: build the registry, handle signals, run until drained."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import Awaitable, Callable, Sequence

from rota.errors import InvalidInput, ServerNotTrusted, WorkerRefused
from rota.launch import uvloop_installed
from rota.settings import Settings
from rota.tasks.builtin import builtin_registry
from rota.tasks.registry import TaskRegistry, find_registries
from rota.worker.capture import capturing
from rota.worker.connection import write_stderr
from rota.worker.periodic import with_periodic
from rota.worker.runtime import Worker

EXIT_OK = 0
EXIT_UNDELIVERED = 1
EXIT_USAGE = 2
EXIT_REFUSED = 3
"""A server refused the worker for good: its token, its name (taken), its protocol version."""


def build_registry(imports: Sequence[str]) -> TaskRegistry:
    """Return the built-in tasks merged with every registry the import specs name.

    The working directory is importable, as with `python -m`, so `--import myapp.tasks`
    works from a project's root however the worker was started.
    """
    if os.getcwd() not in sys.path and "" not in sys.path:
        sys.path.insert(0, os.getcwd())
    registry = builtin_registry()
    for spec in imports:
        found = find_registries(spec)
        if not found:
            raise InvalidInput(f"{spec!r} holds no Rota app or task registry")
        for other in found:
            registry.merge(other)
    return registry


def run_worker(settings: Settings) -> int:
    """Run a worker until SIGTERM/SIGINT drains it (a second one stops it); return the exit code.

    0 after a clean drain, 1 if results could not be delivered, task code would not stop
    (it ends with the process, its leases unreleased) or it was stopped at once, 2 if the
    settings or imports are wrong or no server's certificate is trusted, 3 if a server
    refused the worker for good (WorkerRefused: its token, its name taken by a live worker,
    another protocol version).
    """
    try:
        registry = build_registry(settings.worker.imports)
        worker = Worker(settings, registry)
    except InvalidInput as exc:
        write_stderr(f"rota worker: error: {exc}")
        return EXIT_USAGE
    main = _run(worker)
    with capturing(), asyncio.Runner(loop_factory=_loop_factory()) as runner:
        return runner.run(
            with_periodic(
                main,
                registry.periodic,
                settings.worker.server,
                write_stderr,
                ca=settings.tls.ca,
                token=settings.auth.token,
            )
        )


def _loop_factory() -> Callable[[], asyncio.AbstractEventLoop] | None:
    """uvloop's event loop when it is installed (cheaper frames and thread hand-offs),
    else None: asyncio's own."""
    if not uvloop_installed():
        return None
    import uvloop

    return uvloop.new_event_loop


async def _run(worker: Worker) -> int:
    try:
        delivered = await serve_signals(worker.run(), worker.request_drain, worker.request_stop)
    except ServerNotTrusted as exc:
        write_stderr(f"rota worker: error: {exc}")
        return EXIT_USAGE
    except WorkerRefused as exc:
        write_stderr(f"rota worker: error: {exc}")
        return EXIT_REFUSED
    return EXIT_OK if delivered else EXIT_UNDELIVERED


async def serve_signals(
    run: Awaitable[bool], drain: Callable[[], None], stop: Callable[[], None]
) -> bool:
    """Await `run` with SIGTERM and SIGINT calling `drain` the first time, `stop` after."""
    loop = asyncio.get_running_loop()
    signals_seen = 0

    def on_signal() -> None:
        nonlocal signals_seen
        signals_seen += 1
        if signals_seen == 1:
            drain()
        else:
            stop()

    installed = []
    for signum in (signal.SIGTERM, signal.SIGINT):
        try:
            loop.add_signal_handler(signum, on_signal)
            installed.append(signum)
        except (NotImplementedError, RuntimeError):  # not on this platform or thread
            pass
    try:
        return await run
    finally:
        for signum in installed:
            loop.remove_signal_handler(signum)
