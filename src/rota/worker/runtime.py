"""The worker's main loop and lifecycle: connect, take jobs, report, drain, stop."""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from websockets.exceptions import ConnectionClosed

from rota import protocol
from rota.clock import SYSTEM_CLOCK, Clock
from rota.context import JobContext
from rota.errors import ProtocolError
from rota.safe_text import describe_exception, format_traceback, safe_str
from rota.settings import Settings
from rota.tasks.registry import TaskRegistry
from rota.types import Payload
from rota.values import MAX_LOG_LINE_CHARS, MAX_PROGRESS_CHARS, safe_text
from rota.worker.connection import Connector, Link, write_stderr
from rota.worker.executor import Executor, JobOrder, Outcome
from rota.worker.outbox import LogBuffer, Outbox
from rota.worker.resources import ResourceSampler

WELCOME_TIMEOUT_S = 10.0
LOG_BATCH_S = 0.05
FLUSH_TIMEOUT_S = 5.0
STOP_FLUSH_S = 0.5
MIN_HEARTBEAT_S = 0.01
MAX_STREAM_CHARS = 20


class SessionRefused(Exception):
    """The server answered with an `error` message."""


@dataclass(kw_only=True, slots=True)
class _Job:
    order: JobOrder
    context: JobContext
    task: asyncio.Task[None] | None = None
    logs: LogBuffer = field(default_factory=LogBuffer)


class Worker:
    """Runs jobs a server hands out, over one reconnecting WebSocket."""

    def __init__(
        self,
        settings: Settings,
        registry: TaskRegistry,
        *,
        clock: Clock = SYSTEM_CLOCK,
        report: Callable[[str], None] = write_stderr,
    ) -> None:
        self.name = settings.name or f"{socket.gethostname()}-{os.getpid()}"
        self._settings = settings
        self._registry = registry
        self._clock = clock
        self._report_line = report
        self._connector = Connector(settings.server, report=self._report)
        self._heartbeat_s = settings.heartbeat_s
        self._running: dict[str, _Job] = {}
        self._outbox = Outbox()
        self._link: Link | None = None
        self._draining = False
        self._drain_requested = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._log_flush: asyncio.TimerHandle | None = None
        self._executor = Executor(
            registry,
            worker_name=self.name,
            concurrency=settings.concurrency,
            allow_shell=settings.allow_shell,
            imports=settings.imports,
        )
        self._sampler = ResourceSampler()

    @property
    def running(self) -> list[str]:
        """Return the ids of the jobs running now."""
        return list(self._running)

    def request_drain(self) -> None:
        """Start draining: take no new jobs, finish or release running ones, then return."""
        self._drain_requested.set()

    def request_stop(self) -> None:
        """Stop at once: cancel running jobs, release what can be released, and return."""
        self._stop_requested.set()
        self._changed.set()

    async def run(self) -> bool:
        """Run until drained or stopped; return True if everything owed was delivered."""
        connection = asyncio.create_task(self._stay_connected(), name="rota-connection")
        try:
            waiters = [
                asyncio.create_task(self._drain_requested.wait()),
                asyncio.create_task(self._stop_requested.wait()),
            ]
            await asyncio.wait([*waiters, connection], return_when=asyncio.FIRST_COMPLETED)
            for waiter in waiters:
                waiter.cancel()
            if connection.done():
                connection.result()  # only a bug ends it early: let it surface
            if not self._stop_requested.is_set():
                await self._drain()
            if self._stop_requested.is_set():
                await self._stop_at_once()
            if len(self._outbox):
                self._report(f"{len(self._outbox)} results could not be delivered")
            return not self._outbox and not self._stop_requested.is_set()
        finally:
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connection
            for job in list(self._running.values()):
                self._forget(job)
            self._executor.shutdown()
            self._sampler.close()

    # -- lifecycle -------------------------------------------------------------------------

    async def _drain(self) -> None:
        self._draining = True
        if self._link is not None:
            self._link.post({"type": "drain"})
        grace_s = self._settings.drain_grace_s
        self._report(f"draining: {len(self._running)} running, waiting up to {grace_s:g}s")
        await self._wait_until(lambda: not self._running, grace_s)
        if self._stop_requested.is_set():
            return
        for job in list(self._running.values()):
            self._release(job)
        await self._wait_until(lambda: not self._outbox, FLUSH_TIMEOUT_S)

    async def _stop_at_once(self) -> None:
        self._draining = True
        for job in list(self._running.values()):
            self._release(job)
        if self._link is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_FLUSH_S):
                    await self._link.flushed()

    async def _wait_until(self, done: Callable[[], bool], timeout_s: float) -> bool:
        """Wait until done() holds, the timeout passes or a stop is requested."""
        try:
            async with asyncio.timeout(timeout_s):
                while not done() and not self._stop_requested.is_set():
                    self._changed.clear()
                    await self._changed.wait()
        except TimeoutError:
            pass
        return done()

    # -- connection ------------------------------------------------------------------------

    async def _stay_connected(self) -> None:
        while True:
            link = await self._connector.connect()
            welcomed = False
            try:
                welcomed = await self._session(link)
            except (ConnectionClosed, OSError, TimeoutError, ProtocolError, SessionRefused) as exc:
                self._report(f"lost connection to {link.url}: {_describe(exc)}")
            except Exception as exc:  # a bug in one session must not end the worker
                self._report(f"session with {link.url} failed: {describe_exception(exc)}")
            finally:
                self._link = None
                await link.close()
            self._connector.failed()
            if not welcomed:
                await asyncio.sleep(self._connector.next_delay_s())

    async def _session(self, link: Link) -> bool:
        link.post(self._hello())
        async with asyncio.timeout(WELCOME_TIMEOUT_S):
            welcome = await link.recv()
        if welcome["type"] == "error":
            raise SessionRefused(welcome["message"])
        if welcome["type"] != "welcome":
            raise ProtocolError(f"expected welcome, got {welcome['type']}")
        self._connector.succeeded()
        self._heartbeat_s = max(MIN_HEARTBEAT_S, float(welcome["heartbeat_s"]))
        self._drop_stale(welcome["stale"])
        self._link = link
        self._report(f"connected to {link.url}")
        if self._draining:
            link.post({"type": "drain"})
        for message in self._outbox:
            link.post(message)
        self._flush_logs()
        heartbeats = asyncio.create_task(self._heartbeats(link), name="rota-heartbeat")
        try:
            while True:
                self._handle(await link.recv())
        finally:
            heartbeats.cancel()

    def _hello(self) -> Payload:
        return {
            "type": "hello",
            "version": protocol.PROTOCOL_VERSION,
            "name": self.name,
            "queues": list(self._settings.queues),
            "tags": list(self._settings.tags),
            "tasks": self._registry.names(),
            "capacity": self._settings.concurrency,
            "running": self._leases(),
        }

    def _leases(self) -> list[dict[str, str]]:
        return [job.order.lease for job in self._running.values()]

    async def _heartbeats(self, link: Link) -> None:
        while True:
            resources = await asyncio.to_thread(self._sampler.sample)
            link.post(
                {
                    "type": "heartbeat",
                    "running": self._leases(),
                    "state": "draining" if self._draining else "online",
                    "resources": resources,
                }
            )
            await asyncio.sleep(self._heartbeat_s)

    def _handle(self, message: Payload) -> None:
        kind = message["type"]
        if kind == "jobs":
            for item in message["jobs"]:
                self._take(item)
        elif kind == "cancel":
            job = self._running.get(message["job_id"])
            if job is not None:
                self._forget(job)
        elif kind == "leases":
            self._drop_stale(message["stale"])
        elif kind == "ack":
            self._outbox.drop(message["job_id"])
            if not message["ok"]:
                reason = message.get("error") or "stale lease"
                self._report(f"server refused the outcome of job {message['job_id']}: {reason}")
            self._changed.set()
        elif kind == "drain":
            self.request_drain()
        elif kind == "error":
            raise SessionRefused(message["message"])

    # -- jobs ------------------------------------------------------------------------------

    def _take(self, item: Any) -> None:
        try:
            order = JobOrder.from_payload(item)
        except ProtocolError as exc:
            self._report(f"ignored a job: {exc}")
            return
        old = self._running.get(order.job_id)
        if old is not None:  # the server moved on to a new attempt; the old lease is dead
            self._forget(old)
        if self._draining or len(self._running) >= self._settings.concurrency:
            self._put_outbox({"type": "release", **order.lease})
            return
        loop = asyncio.get_running_loop()
        job = _Job(order=order, context=self._context_for(order, loop))
        self._running[order.job_id] = job
        job.task = asyncio.create_task(self._run_job(job), name=f"rota-job {order.job_id}")

    async def _run_job(self, job: _Job) -> None:
        try:
            outcome = await self._executor.run(job.order, job.context)
        except asyncio.CancelledError:
            return  # whoever cancelled it decided what to tell the server
        except Exception as exc:  # a bug of ours must still end the attempt, not the worker
            outcome = Outcome.failure(
                f"worker error: {describe_exception(exc)}",
                traceback=format_traceback(exc),
                retryable=True,
            )
        if self._running.get(job.order.job_id) is not job:
            return  # cancelled, stale or released while it ran: its outcome is not wanted
        del self._running[job.order.job_id]
        self._send_logs(job)
        message = outcome.message(job.order)
        try:
            protocol.encode(message)
        except ProtocolError as exc:
            message = Outcome.failure(str(exc), retryable=False).message(job.order)
        self._put_outbox(message)
        self._changed.set()

    def _context_for(self, order: JobOrder, loop: asyncio.AbstractEventLoop) -> JobContext:
        def call_in_loop(callback: Callable[..., None], *args: Any) -> None:
            # Tasks call these from threads too; the loop may be gone if a thread outlived it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)

        # Text that cannot be encoded is escaped, never dropped (rota.values.safe_text).
        def on_progress(fraction: float | None, text: str | None) -> None:
            text = None if text is None else safe_text(text, MAX_PROGRESS_CHARS)
            call_in_loop(self._send_progress, order.job_id, order.token, fraction, text)

        def on_log(text: str, stream: str) -> None:
            at = self._clock.now_utc().timestamp()
            line = safe_text(text, MAX_LOG_LINE_CHARS)
            stream = safe_text(stream, MAX_STREAM_CHARS)
            call_in_loop(self._add_log, order.job_id, order.token, at, stream, line)

        return JobContext(
            job_id=order.job_id,
            task=order.task,
            attempt=order.attempt,
            max_attempts=order.max_attempts,
            on_progress=on_progress,
            on_log=on_log,
        )

    def _current(self, job_id: str, token: str) -> _Job | None:
        job = self._running.get(job_id)
        return job if job is not None and job.order.token == token else None

    def _send_progress(
        self, job_id: str, token: str, fraction: float | None, text: str | None
    ) -> None:
        if self._current(job_id, token) is not None and self._link is not None:
            self._link.post(
                {
                    "type": "progress",
                    "job_id": job_id,
                    "token": token,
                    "progress": fraction,
                    "message": text,
                }
            )

    def _add_log(self, job_id: str, token: str, at: float, stream: str, text: str) -> None:
        job = self._current(job_id, token)
        if job is None:
            return
        job.logs.add(at, stream, text)
        if self._log_flush is None:
            loop = asyncio.get_running_loop()
            self._log_flush = loop.call_later(LOG_BATCH_S, self._flush_logs)

    def _flush_logs(self) -> None:
        self._log_flush = None
        for job in self._running.values():
            self._send_logs(job)

    def _send_logs(self, job: _Job) -> None:
        while job.logs and self._link is not None:  # in messages that each fit a frame
            self._link.post({"type": "log", **job.order.lease, "lines": job.logs.take()})

    def _put_outbox(self, message: Payload) -> None:
        self._outbox.put(message)
        if self._link is not None:
            self._link.post(message)

    def _forget(self, job: _Job) -> None:
        """Stop a job locally and send nothing more for it."""
        if self._running.get(job.order.job_id) is job:
            del self._running[job.order.job_id]
        job.context.cancelled.set()
        if job.task is not None:
            job.task.cancel()
        self._changed.set()

    def _release(self, job: _Job) -> None:
        self._forget(job)
        self._put_outbox({"type": "release", **job.order.lease})

    def _drop_stale(self, job_ids: list[Any]) -> None:
        for job_id in job_ids:
            job = self._running.get(job_id)
            if job is not None:
                self._forget(job)
            self._outbox.drop(job_id)
        if job_ids:
            self._changed.set()

    def _report(self, line: str) -> None:
        self._report_line(f"rota worker {self.name}: {line}")


def _describe(exc: BaseException) -> str:
    text = safe_str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
