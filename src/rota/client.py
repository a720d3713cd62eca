"""The async Python client of the REST API; the sync `Client` in rota.sync wraps it."""

from __future__ import annotations

import json as json_module
import math
from collections.abc import Callable, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from types import TracebackType
from typing import Any, Protocol, Self

import anyio
import httpx

from rota import errors
from rota.auth.tokens import bearer_header
from rota.client_calendars import CalendarMethods
from rota.client_devices import DeviceMethods
from rota.client_reminders import ReminderMethods
from rota.client_retry import (
    DEFAULT_RETRY,
    SAFE_METHODS,
    RetryPolicy,
    may_retry_error,
    may_retry_status,
    new_idempotency_key,
    new_idempotency_keys,
)
from rota.client_schedules import ScheduleMethods
from rota.client_urls import DEFAULT_URL as DEFAULT_URL  # where clients have always found it
from rota.client_urls import (
    ca_from,
    check_params,
    segment,
    server_from,
    token_from,
    with_scheme,
)
from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidInput, RotaError, ServerUnavailable, TimeoutExpired
from rota.jobs import JobState
from rota.moments import MAX_TIMEOUT_S, wire_moment, wire_span
from rota.retry import Backoff
from rota.tls import tls_refusal, verify_for
from rota.types import JSON, JobId, Payload
from rota.values import check_arguments

API_PREFIX = "/api/v1"
MAX_WAIT_S = 30.0
"""The longest single long-poll of a job's result, as the server caps it: well inside the
60 s read timeout of common proxies; a longer wait polls again."""

JSON_HEADERS = (("content-type", "application/json"),)
"""The headers of a request with a body."""

MINIMAL = {"Prefer": "return=minimal"}
"""The header that asks a submission's answer for each job's id and state only."""

JobData = dict[str, Any]
"""A job as the API returns it: `rota.jobs.Job.to_dict()`."""


class Reply(Protocol):
    """What the client reads of a response: an `httpx.Response`, or the sync client's lean
    `rota.client_http.Answer`."""

    @property
    def status_code(self) -> int: ...
    @property
    def reason_phrase(self) -> str: ...
    @property
    def content(self) -> bytes: ...
    @property
    def is_success(self) -> bool: ...
    @property
    def text(self) -> str: ...
    def json(self) -> Any: ...


class AsyncClient(ScheduleMethods, CalendarMethods, ReminderMethods, DeviceMethods):
    """Talk to a Rota server over its REST API.

    Use it as an async context manager, or call `aclose()` when done. Every HTTP error
    becomes the RotaError subclass the server names; a server that cannot be reached is
    ServerUnavailable.

    Reads and submissions that meet a lost connection or a 502/503/504 (a proxy in front of
    a server that died or restarts) are sent again as `retry` says; every submission carries
    an idempotency key (one is made when none is given), so a retry never makes a second
    job. Pass `retry=NO_RETRY` (rota.client_retry) to see the first failure instead.
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        timeout_s: float = 10.0,
        token: str | None = None,
        transport: httpx.AsyncBaseTransport | None = None,
        clock: Clock = SYSTEM_CLOCK,
        retry: RetryPolicy = DEFAULT_RETRY,
        ca: str | Path | None = None,
    ) -> None:
        """`ca`: a PEM file of the CA(s) an https:// server's certificate is verified with,
        instead of the system's trust store (default $ROTA_CA). InvalidInput when it cannot
        be read."""
        self.url = (with_scheme(url) if url else server_from()).rstrip("/")
        token = token_from() if token is None else token
        self.timeout_s = timeout_s
        self.retry_policy = retry
        self._clock = clock
        headers = bearer_header(token)
        self._verify = verify_for(self.url, ca_from() if ca is None else ca)
        self._http = httpx.AsyncClient(
            base_url=self.url + API_PREFIX,
            timeout=timeout_s,
            headers=headers,
            transport=transport,
            verify=self._verify,
        )

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.aclose()

    async def aclose(self) -> None:
        """Close the connections to the server."""
        await self._http.aclose()

    # --- jobs ----------------------------------------------------------------------------

    async def submit(
        self,
        task: str,
        args: Sequence[JSON] = (),
        kwargs: Mapping[str, JSON] | None = None,
        *,
        queue: str | None = None,
        priority: int | None = None,
        delay: float | timedelta | None = None,
        run_at: datetime | str | None = None,
        max_attempts: int | None = None,
        timeout: float | timedelta | None = None,  # noqa: ASYNC109 (the job's, not this call's)
        deadline: datetime | str | None = None,
        idempotency_key: str | None = None,
        target: str | None = None,
        backoff: Backoff | None = None,
    ) -> JobData:
        """Submit one job and return it; options left as None take the server's defaults.

        `delay` and `timeout` are seconds (or a timedelta); `run_at` and `deadline` are aware
        datetimes (or ISO 8601 text with an offset). Without an `idempotency_key` the client
        makes a fresh one, so that sending the submission again after a lost answer returns
        the same job.
        """
        body = job_body(
            task,
            args,
            kwargs,
            queue=queue,
            priority=priority,
            delay=delay,
            run_at=run_at,
            max_attempts=max_attempts,
            timeout=timeout,
            deadline=deadline,
            idempotency_key=idempotency_key or new_idempotency_key(),
            target=target,
            backoff=backoff,
        )
        job: JobData = await self._request("POST", "/jobs", json=body, repeatable=True)
        return job

    async def submit_many(
        self, jobs: Sequence[Mapping[str, Any]], *, minimal: bool = False
    ) -> list[JobData]:
        """Submit several jobs at once, all or none; each item is a JobSubmit body.

        Return the jobs in the order given, whole; with `minimal`, each as `{"id", "state"}`
        only (the server is sent `Prefer: return=minimal`): far less for both sides to
        encode, send and decode in a large batch. A server that does not know the
        preference answers whole jobs, which hold both keys too.

        An item without an `idempotency_key` gets a fresh one, as in `submit`.
        """
        body = [
            {
                key: value if type(value) in _PLAIN_TYPES else _jsonable(key, value)
                for key, value in item.items()
            }
            for item in jobs
        ]
        for index, item in enumerate(body):
            item["args"], item["kwargs"] = check_arguments(
                item.get("args", []), item.get("kwargs", {}), where=f"jobs[{index}]."
            )
        keyless = [item for item in body if item.get("idempotency_key") is None]
        for item, key in zip(keyless, new_idempotency_keys(len(keyless)), strict=True):
            item["idempotency_key"] = key
        created: list[JobData] = await self._request(
            "POST", "/jobs", json=body, repeatable=True, headers=MINIMAL if minimal else None
        )
        return created

    async def get_job(self, job_id: JobId) -> JobData:
        """Return the job (JobNotFound for an unknown id)."""
        job: JobData = await self._request("GET", f"/jobs/{segment(job_id, 'job id')}")
        return job

    async def list_jobs(
        self,
        *,
        state: JobState | str | None = None,
        queue: str | None = None,
        task: str | None = None,
        worker: str | None = None,
        q: str | None = None,
        limit: int | None = None,
        cursor: str | None = None,
        schedule: str | None = None,
        created_after: datetime | str | None = None,
        created_before: datetime | str | None = None,
        sort: str | None = None,
        order: str | None = None,
    ) -> Payload:
        """Return one page of jobs: {"jobs": [...], "next_cursor": ...}, newest first unless
        `sort` (created_at, run_at, duration, task, state) and `order` (asc, desc) say
        otherwise. `task` matches a prefix; `q` searches ids (their start, or their end as
        the short id), keys, task names and the text of arguments, results and errors."""
        params = _drop_none(
            state=str(state) if state is not None else None,
            queue=queue,
            task=task,
            worker=worker,
            q=q,
            schedule=schedule,
            created_after=wire_moment(created_after, "created_after"),
            created_before=wire_moment(created_before, "created_before"),
            sort=sort,
            order=order,
            limit=limit,
            cursor=cursor,
        )
        page: Payload = await self._request("GET", "/jobs", params=params)
        return page

    async def update(
        self,
        job_id: JobId,
        *,
        run_at: datetime | str | None = None,
        delay: float | timedelta | None = None,
        priority: int | None = None,
        args: Sequence[JSON] | None = None,
        kwargs: Mapping[str, JSON] | None = None,
    ) -> JobData:
        """Change a pending job's time, priority or arguments, and return it."""
        body = _drop_none(
            run_at=wire_moment(run_at, "run_at"),
            delay=wire_span(delay, "delay"),
            priority=priority,
            args=check_arguments(args, {})[0] if args is not None else None,
            kwargs=check_arguments([], kwargs)[1] if kwargs is not None else None,
        )
        job: JobData = await self._request("PATCH", f"/jobs/{segment(job_id, 'job id')}", json=body)
        return job

    async def cancel(self, job_id: JobId) -> JobData:
        """Cancel a pending or running job and return it (InvalidTransition if finished)."""
        job: JobData = await self._request("DELETE", f"/jobs/{segment(job_id, 'job id')}")
        return job

    async def retry(
        self,
        job_id: JobId,
        *,
        args: Sequence[JSON] | None = None,
        kwargs: Mapping[str, JSON] | None = None,
    ) -> JobData:
        """Put a failed, cancelled or expired job back to pending and return it; new
        `args` or `kwargs`, when given, replace the job's."""
        body = _drop_none(
            args=check_arguments(args, {})[0] if args is not None else None,
            kwargs=check_arguments([], kwargs)[1] if kwargs is not None else None,
        )
        job: JobData = await self._request(
            "POST", f"/jobs/{segment(job_id, 'job id')}/retry", json=body or None
        )
        return job

    async def retry_many(
        self, task: str, *, since: datetime | str | None = None, state: str = "failed"
    ) -> Payload:
        """Retry every job of the task in that state (failed, cancelled or expired) that
        finished at or after `since`; return {"retried": n, "skipped": m}."""
        body = _drop_none(task=task, since=wire_moment(since, "since"), state=state)
        counts: Payload = await self._request("POST", "/jobs/retry", json=body)
        return counts

    async def attempts(self, job_id: JobId) -> list[Payload]:
        """Return the job's attempts, oldest first, each with its own error and traceback."""
        body: Payload = await self._request("GET", f"/jobs/{segment(job_id, 'job id')}/attempts")
        attempts: list[Payload] = body["attempts"]
        return attempts

    async def task_stats(self, window: str = "1h") -> Payload:
        """Return per-task figures over the window (15m, 1h, 24h or 7d)."""
        body: Payload = await self._request("GET", "/stats/tasks", params={"window": window})
        return body

    async def worker(self, name: str) -> Payload:
        """Return one worker with its running and recent jobs and resources over time."""
        body: Payload = await self._request("GET", f"/workers/{segment(name, 'worker name')}")
        return body

    async def events(self, job_id: JobId, after: int = 0) -> list[Payload]:
        """Return the job's execution log, the events with an id above `after`."""
        body: Payload = await self._request(
            "GET", f"/jobs/{segment(job_id, 'job id')}/events", params={"after": after}
        )
        events: list[Payload] = body["events"]
        return events

    async def wait(
        self,
        job_id: JobId,
        timeout_s: float | None = None,
        poll_s: float = MAX_WAIT_S,
        *,
        on_update: Callable[[JobData], None] | None = None,
    ) -> JobData:
        """Wait until the job is finished and return it, whatever its outcome.

        Long-polls the server at most `poll_s` at a time, calling `on_update` with the job
        after each poll. Raises TimeoutExpired when `timeout_s` passes first.
        """
        if poll_s <= 0:
            raise InvalidInput("poll_s must be positive")
        started = self._clock.monotonic()
        while True:
            remaining = (
                math.inf if timeout_s is None else timeout_s - (self._clock.monotonic() - started)
            )
            wait_s = max(0.0, min(remaining, poll_s, MAX_WAIT_S))
            job: JobData = await self._request(
                "GET",
                f"/jobs/{segment(job_id, 'job id')}/result",
                params={"wait": round(wait_s, 3)},
                timeout_s=wait_s + self.timeout_s,
            )
            if on_update is not None:
                on_update(job)
            if JobState(job["state"]).finished:
                return job
            if timeout_s is not None and self._clock.monotonic() - started >= timeout_s:
                raise TimeoutExpired(f"job {job_id} did not finish within {timeout_s:g} s")

    # --- workers, queues, tasks, health --------------------------------------------------

    async def workers(self) -> list[Payload]:
        """Return every registered worker, online first."""
        body: Payload = await self._request("GET", "/workers")
        workers: list[Payload] = body["workers"]
        return workers

    async def drain(self, name: str) -> None:
        """Ask a worker to drain: take no new jobs and finish the running ones."""
        await self._request("POST", f"/workers/{segment(name, 'worker name')}/drain")

    async def queues(self) -> list[Payload]:
        """Return depth, running count and oldest due age of every queue."""
        body: Payload = await self._request("GET", "/queues")
        queues: list[Payload] = body["queues"]
        return queues

    async def tasks(self) -> list[str]:
        """Return the names of the tasks the server knows."""
        body: Payload = await self._request("GET", "/tasks")
        names: list[str] = body["tasks"]
        return names

    async def health(self) -> Payload:
        """Return the server's health: {"status": "ok"} when it answers."""
        body: Payload = await self._request("GET", "/healthz")
        return body

    # --- tokens (admin) -------------------------------------------------------------------

    async def tokens(self) -> list[Payload]:
        """Return every token (revoked ones too), oldest first; never a secret."""
        body: Payload = await self._request("GET", "/tokens")
        tokens: list[Payload] = body["tokens"]
        return tokens

    async def create_token(self, name: str, role: str, *, binding: str | None = None) -> Payload:
        """Make a token; return {"token": {...}, "secret": "rota_..."}: the secret is in this
        answer only. `binding` (worker tokens): name:<glob> or tag:<glob>."""
        body: Payload = {"name": name, "role": role}
        if binding is not None:
            body["binding"] = binding
        answer: Payload = await self._request("POST", "/tokens", json=body)
        return answer

    async def revoke_token(self, token_id: str) -> Payload:
        """Revoke a token at once (again is a no-op); return it."""
        answer: Payload = await self._request(
            "DELETE", f"/tokens/{segment(token_id, 'token id')}", repeatable=True
        )
        return answer

    # --- transport -----------------------------------------------------------------------

    async def _request(
        self,
        method: str,
        path: str,
        *,
        json: JSON = None,
        params: Mapping[str, Any] | None = None,
        timeout_s: float | None = None,
        repeatable: bool | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> Any:
        """Send the request, again after each pause of the retry policy while it may be.

        `repeatable` says that sending it twice does what sending it once does; by default
        only reads are. `headers` are sent besides the client's own.
        """
        check_params(params)
        content = None if json is None else _json_bytes(json)
        again = method in SAFE_METHODS if repeatable is None else repeatable
        pauses = self.retry_policy.pauses()
        while True:
            try:
                response = await self._send(
                    method,
                    path,
                    content=content,
                    params=params,
                    timeout_s=timeout_s if timeout_s is not None else self.timeout_s,
                    headers=headers,
                )
            except httpx.TransportError as exc:
                refused = tls_refusal(self.url, exc)
                if refused is not None:  # sending it again would meet the same certificate
                    raise refused from None
                pause = next(pauses, None) if may_retry_error(exc, repeatable=again) else None
                if pause is None:
                    raise _unavailable(self.url, exc) from None
                await self._pause(pause)
                continue
            if may_retry_status(response.status_code, repeatable=again):
                pause = next(pauses, None)
                if pause is not None:
                    await self._pause(pause)
                    continue
            break
        if response.is_success:
            return response.json() if response.content else None
        raise error_from_response(response)

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
        """Send one request on the pool of kept-alive connections.

        With `_pause`, the only awaits of every method: the sync Client overrides both with
        blocking calls and so runs these methods without an event loop.
        """
        return await self._http.request(
            method,
            path,
            content=content,
            headers=request_headers(content, headers),
            params=params,
            timeout=timeout_s,
        )

    async def _pause(self, seconds: float) -> None:
        """Wait before a retry."""
        await anyio.sleep(seconds)


def request_headers(
    content: bytes | None, extra: Mapping[str, str] | None
) -> list[tuple[str, str]] | None:
    """Return the headers of a request beside the client's own: its content type when it
    has a body, and `extra`; None when there are none."""
    headers = list(JSON_HEADERS) if content is not None else []
    if extra:
        headers.extend(extra.items())
    return headers or None


def _unavailable(url: str, error: httpx.TransportError) -> ServerUnavailable:
    if isinstance(error, httpx.TimeoutException):
        return ServerUnavailable(f"the Rota server at {url} did not answer in time")
    if isinstance(error, httpx.RemoteProtocolError) and url.startswith("http://"):
        # What a TLS port does with a plain request: it closes without an answer.
        return ServerUnavailable(
            f"the Rota server at {url} closed the connection without answering "
            "(if it serves HTTPS, use an https:// URL)"
        )
    return ServerUnavailable(f"cannot reach the Rota server at {url}")


def error_from_response(response: Reply) -> RotaError:
    """Return the RotaError an error response stands for, as named in its body."""
    try:
        error = response.json()["error"]
        type_name, message = str(error["type"]), str(error["message"])
    except (ValueError, KeyError, TypeError):
        text = response.text.strip()[:200] or response.reason_phrase
        return RotaError(f"the server answered {response.status_code}: {text}")
    error_class = getattr(errors, type_name, None)
    if isinstance(error_class, type) and issubclass(error_class, RotaError):
        return error_class(message)
    return RotaError(message)


def job_body(
    task: str,
    args: Sequence[JSON] = (),
    kwargs: Mapping[str, JSON] | None = None,
    *,
    queue: str | None = None,
    priority: int | None = None,
    delay: float | timedelta | None = None,
    run_at: datetime | str | None = None,
    max_attempts: int | None = None,
    timeout: float | timedelta | None = None,
    deadline: datetime | str | None = None,
    idempotency_key: str | None = None,
    target: str | None = None,
    backoff: Backoff | None = None,
) -> Payload:
    """Return the JobSubmit body for one job; options left as None are left out."""
    if isinstance(args, str | bytes | Mapping):
        raise InvalidInput("args must be a list of arguments, not a single value")
    checked_args, checked_kwargs = check_arguments(list(args), dict(kwargs or {}))
    body: Payload = {"task": task, "args": checked_args, "kwargs": checked_kwargs}
    body.update(
        _drop_none(
            queue=queue,
            priority=priority,
            delay=wire_span(delay, "delay"),
            run_at=wire_moment(run_at, "run_at"),
            max_attempts=max_attempts,
            timeout=wire_span(timeout, "timeout", positive=True, max_s=MAX_TIMEOUT_S),
            deadline=wire_moment(deadline, "deadline"),
            idempotency_key=idempotency_key,
            target=target,
            backoff=_backoff(backoff),
        )
    )
    return body


def _json_bytes(body: JSON) -> bytes:
    """Return the JSON text of a request body; the server judges every value in it.

    ASCII-only, so text that UTF-8 cannot encode still reaches the server, which names it.
    """
    try:
        return json_module.dumps(body, allow_nan=False, separators=(",", ":")).encode()
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"the request cannot be sent as JSON: {exc}") from None


def _drop_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}


def _backoff(value: Backoff | None) -> dict[str, float] | None:
    if value is None:
        return None
    return {
        "base_s": value.base_s,
        "factor": value.factor,
        "max_s": value.max_s,
        "jitter": value.jitter,
    }


_PLAIN_TYPES = frozenset({str, int, float, bool, type(None), list, dict})
"""Types of item values that _jsonable returns as they are."""


def _jsonable(name: str, value: Any) -> Any:
    if isinstance(value, datetime):
        return wire_moment(value, name)
    if isinstance(value, timedelta):
        return wire_span(value, name)
    if isinstance(value, Backoff):
        return _backoff(value)
    if isinstance(value, tuple):
        return list(value)
    return value
