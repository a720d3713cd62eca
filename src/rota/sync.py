"""The sync client: the AsyncClient's methods, run without an event loop.

Every method is the AsyncClient's own code (one source for bodies, checks and errors). Its
only await is `_send`, which here is a blocking call on a kept-alive connection, so the
coroutine finishes at its first step: the call costs no event loop, thread hop or portal,
just the request. For a plain http:// server the connection is a kept-alive socket whose
answers httptools parses (see rota.client_http: a tenth of httpx's CPU per call); for https,
a proxy or a given transport it is one `httpx.Client`.
"""

from __future__ import annotations

import time
from collections.abc import Awaitable, Callable, Coroutine, Mapping
from pathlib import Path
from types import TracebackType
from typing import Any, Concatenate, ParamSpec, Self, TypeVar, cast

import httpx

from rota.client import API_PREFIX, AsyncClient, Reply, request_headers
from rota.client_http import LeanHttp, lean_usable
from rota.client_retry import DEFAULT_RETRY, RetryPolicy
from rota.errors import RotaError

P = ParamSpec("P")
R = TypeVar("R")


class _BlockingCore(AsyncClient):
    """An AsyncClient whose requests block on a sync httpx.Client instead of awaiting."""

    def __init__(
        self,
        url: str | None,
        *,
        timeout_s: float,
        token: str | None,
        transport: httpx.BaseTransport | None,
        retry: RetryPolicy,
        ca: str | Path | None,
    ) -> None:
        super().__init__(url, timeout_s=timeout_s, token=token, retry=retry, ca=ca)
        # The AsyncClient's own pool is never used; its headers (the token) and the
        # certificate check it chose are.
        self._sync_http = httpx.Client(
            base_url=self.url + API_PREFIX,
            timeout=timeout_s,
            headers=self._http.headers,
            transport=transport,
            verify=self._verify,
        )
        self._lean = (
            LeanHttp(self.url + API_PREFIX, headers=_credentials(self._http.headers))
            if transport is None and lean_usable(self.url)
            else None
        )

    async def _send(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> Reply:
        if self._lean is not None:
            return self._lean.request(
                method, path, content=content, params=params, timeout_s=timeout_s, headers=headers
            )
        return self._sync_http.request(
            method,
            path,
            content=content,
            headers=request_headers(content, headers),
            params=params,
            timeout=timeout_s,
        )

    async def _pause(self, seconds: float) -> None:
        time.sleep(seconds)  # noqa: ASYNC251 (run by run_to_end, outside any event loop)

    def close_sync(self) -> None:
        """Close the kept-alive connections."""
        if self._lean is not None:
            self._lean.close()
        self._sync_http.close()


def _credentials(headers: httpx.Headers) -> dict[str, str]:
    """Return the Authorization header among httpx's defaults (the token), if any."""
    token = headers.get("authorization")
    return {} if token is None else {"Authorization": token}


def run_to_end(step: Coroutine[Any, Any, R]) -> R:
    """Run a coroutine that never suspends (its awaits all finish at once); return its value.

    Raises RotaError if it does suspend: it awaited something only an event loop can finish.
    """
    try:
        step.send(None)
    except StopIteration as done:
        value: R = done.value
        return value
    step.close()
    raise RotaError("the sync client cannot run a call that waits on an event loop")


def _blocking(
    method: Callable[Concatenate[AsyncClient, P], Awaitable[R]],
) -> Callable[Concatenate[Client, P], R]:
    """Return a sync method that runs the AsyncClient method on the client's blocking core."""

    def call(self: Client, /, *args: P.args, **kwargs: P.kwargs) -> R:
        coroutine = cast(Coroutine[Any, Any, R], method(self._core, *args, **kwargs))
        return run_to_end(coroutine)

    call.__name__ = method.__name__
    call.__qualname__ = f"Client.{method.__name__}"
    call.__doc__ = method.__doc__
    return call


class Client:
    """Talk to a Rota server from sync code; the same methods as AsyncClient, blocking.

    Safe to use from any thread, including one that runs an event loop of its own (the call
    blocks that thread). One pool of kept-alive connections serves every call. Use it as a
    context manager, or call `close()` when done.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout_s: float = 10.0,
        token: str | None = None,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy = DEFAULT_RETRY,
        ca: str | Path | None = None,
    ) -> None:
        """`ca`: a PEM file of the CA(s) an https:// server's certificate is verified with,
        instead of the system's trust store (default $ROTA_CA)."""
        self._core = _BlockingCore(
            url, timeout_s=timeout_s, token=token, transport=transport, retry=retry, ca=ca
        )
        self._closed = False

    @property
    def url(self) -> str:
        """Return the server's base URL."""
        return self._core.url

    @property
    def async_client(self) -> AsyncClient:
        """Return the AsyncClient whose methods this client runs (its requests block)."""
        return self._core

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
        """Close the connections to the server."""
        if self._closed:
            return
        self._closed = True
        self._core.close_sync()

    submit = _blocking(AsyncClient.submit)
    submit_many = _blocking(AsyncClient.submit_many)
    get_job = _blocking(AsyncClient.get_job)
    list_jobs = _blocking(AsyncClient.list_jobs)
    update = _blocking(AsyncClient.update)
    cancel = _blocking(AsyncClient.cancel)
    retry = _blocking(AsyncClient.retry)
    retry_many = _blocking(AsyncClient.retry_many)
    attempts = _blocking(AsyncClient.attempts)
    task_stats = _blocking(AsyncClient.task_stats)
    worker = _blocking(AsyncClient.worker)
    schedule_runs = _blocking(AsyncClient.schedule_runs)
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
    remind = _blocking(AsyncClient.remind)
    devices = _blocking(AsyncClient.devices)
    device = _blocking(AsyncClient.device)
    snooze = _blocking(AsyncClient.snooze)
    dismiss = _blocking(AsyncClient.dismiss)
    import_calendar = _blocking(AsyncClient.import_calendar)
    tokens = _blocking(AsyncClient.tokens)
    create_token = _blocking(AsyncClient.create_token)
    revoke_token = _blocking(AsyncClient.revoke_token)
