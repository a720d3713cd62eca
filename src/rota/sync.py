"""The sync client: each method runs the AsyncClient's on one long-lived event loop thread."""

from __future__ import annotations

import functools
import threading
from collections.abc import Awaitable, Callable
from types import TracebackType
from typing import Concatenate, ParamSpec, Self, TypeVar

import anyio
import httpx
from anyio.from_thread import BlockingPortal

from rota.client import AsyncClient
from rota.client_retry import DEFAULT_RETRY, RetryPolicy
from rota.errors import RotaError

P = ParamSpec("P")
R = TypeVar("R")


class _PortalThread:
    """An anyio blocking portal on a daemon thread of its own.

    anyio's start_blocking_portal runs its loop on a non-daemon pool thread, which keeps the
    interpreter from exiting while a Client nobody closed is alive; a daemon thread does not.
    """

    def __init__(self) -> None:
        self._ready = threading.Event()
        self._portal: BlockingPortal | None = None
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="rota-client", daemon=True)
        self._thread.start()
        self._ready.wait()
        if self._portal is None:
            raise RotaError(f"cannot start the client's event loop: {self._failure}")

    @property
    def portal(self) -> BlockingPortal:
        if self._portal is None:
            raise RotaError("the client is closed")
        return self._portal

    def _run(self) -> None:
        async def serve() -> None:
            async with BlockingPortal() as portal:
                self._portal = portal
                self._ready.set()
                await portal.sleep_until_stopped()

        try:
            anyio.run(serve)
        except BaseException as exc:  # reported to the constructor, which raises
            self._failure = exc
        finally:
            self._portal = None
            self._ready.set()

    def stop(self) -> None:
        """Cancel what still runs (a wait interrupted by Ctrl-C), stop the loop, join it."""
        portal = self._portal
        if portal is not None:
            portal.call(portal.stop, True)
        self._thread.join()


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Awaitable[R]],
) -> Callable[Concatenate[Client, P], R]:
    """Return a sync method that runs the AsyncClient method on the client's portal."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        bound = functools.partial(method, self.async_client, *args, **kwargs)
        return self._thread.portal.call(bound)

    call.__name__ = method.__name__
    call.__qualname__ = f"Client.{method.__name__}"
    call.__doc__ = method.__doc__
    return call


class Client:
    """Talk to a Rota server from sync code; the same methods as AsyncClient, blocking.

    Safe to use from any thread, including one that runs an event loop of its own. Use it
    as a context manager, or call `close()` when done.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout_s: float = 10.0,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
    ) -> None:
        self._thread = _PortalThread()
        # Built on the portal's loop, where every one of its requests will run.
        self.async_client: AsyncClient = self._thread.portal.call(
            functools.partial(_make_client, url, timeout_s, token, transport, retry)
        )
        self._closed = False

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return self.async_client.url

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Close the connections and stop the client's event loop thread."""
        if self._closed:
            return
        self._closed = True
        try:
            self._thread.portal.call(self.async_client.aclose)
        finally:
            self._thread.stop()

    submit = _blocking(AsyncClient.submit)
    submit_many = _blocking(AsyncClient.submit_many)
    get_job = _blocking(AsyncClient.get_job)
    list_jobs = _blocking(AsyncClient.list_jobs)
    update = _blocking(AsyncClient.update)
    cancel = _blocking(AsyncClient.cancel)
    retry = _blocking(AsyncClient.retry)
    events = _blocking(AsyncClient.events)
    wait = _blocking(AsyncClient.wait)
    workers = _blocking(AsyncClient.workers)
    drain = _blocking(AsyncClient.drain)
    queues = _blocking(AsyncClient.queues)
    tasks = _blocking(AsyncClient.tasks)
    health = _blocking(AsyncClient.health)
    add_schedule = _blocking(AsyncClient.add_schedule)
    put_schedule = _blocking(AsyncClient.put_schedule)
    schedules = _blocking(AsyncClient.schedules)
    get_schedule = _blocking(AsyncClient.get_schedule)
    update_schedule = _blocking(AsyncClient.update_schedule)
    delete_schedule = _blocking(AsyncClient.delete_schedule)
    pause_schedule = _blocking(AsyncClient.pause_schedule)
    resume_schedule = _blocking(AsyncClient.resume_schedule)
    trigger_schedule = _blocking(AsyncClient.trigger_schedule)


async def _make_client(
    url: str | None,
    timeout_s: float,
    token: str | None,
    transport: httpx.AsyncBaseTransport | None,
    retry: RetryPolicy,
) -> AsyncClient:
    return AsyncClient(url, timeout_s=timeout_s, token=token, transport=transport, retry=retry)
