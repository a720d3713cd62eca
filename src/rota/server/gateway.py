"""The WebSocket endpoint workers connect to: a hello/welcome handshake, then a message loop.

Each worker holds one connection. Its messages are handled in order, except the final words
on jobs (result, failure, release): those settle concurrently, so one worker's outcomes share
the store's commits instead of queueing behind each other's. An `ack` always follows the store
change it confirms.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from typing import NoReturn

from fastapi import APIRouter, WebSocket

from rota.errors import InvalidTransition, InvalidValue, JobNotFound, ProtocolError, StaleLease
from rota.jobs import Job, Lease
from rota.protocol import PROTOCOL_VERSION, WEBSOCKET_PATH, WORKER_MESSAGES, decode, encode
from rota.safe_text import excerpt
from rota.server.dispatcher import WorkerSession
from rota.server.frames import is_number, leases_of, log_event, unleased_of, worker_details
from rota.server.leases import renew, tell_to_stop
from rota.server.state import Hub
from rota.store.base import WorkerInfo
from rota.types import JobId, LeaseToken, Payload
from rota.values import (
    MAX_ERROR_CHARS,
    MAX_PROGRESS_CHARS,
    MAX_TRACEBACK_CHARS,
    check_result,
    check_value,
    escape_output,
)

logger = logging.getLogger("rota.server.gateway")
router = APIRouter()

HELLO_TIMEOUT_S = 10.0
MAX_LOG_LINES = 1000

# WebSocket close codes (RFC 6455).
CLOSE_NORMAL = 1000
CLOSE_PROTOCOL_ERROR = 1002
CLOSE_POLICY_VIOLATION = 1008
CLOSE_INTERNAL_ERROR = 1011

SETTLING = frozenset({"result", "failure", "release"})
"""Messages about different jobs that need no order among themselves."""


class _Closed(Exception):
    """The connection is over: the worker left or we closed it."""


@router.websocket(WEBSOCKET_PATH)
async def worker_socket(websocket: WebSocket) -> None:
    """Serve one worker's connection until it closes."""
    hub: Hub = websocket.app.state.hub
    await websocket.accept()
    await WorkerConnection(hub, websocket).serve()


class WorkerConnection:
    """One worker's connection: its handshake, its messages and its departure."""

    def __init__(self, hub: Hub, websocket: WebSocket) -> None:
        self._hub = hub
        self._store = hub.store
        self._dispatcher = hub.dispatcher
        self._websocket = websocket
        settings = hub.settings
        # A live worker speaks at least every heartbeat; silence this long means it is gone.
        self._idle_s = max(settings.server.lease_s, 3 * settings.server.heartbeat_s)
        self._handlers: dict[str, Callable[[WorkerSession, Payload], Awaitable[None]]] = {
            "heartbeat": self._heartbeat,
            "progress": self._progress,
            "log": self._log,
            "result": self._result,
            "failure": self._failure,
            "release": self._release,
            "stopping": self._stopping,
            "drain": self._drain,
        }
        self._settling: set[asyncio.Task[None]] = set()

    async def serve(self) -> None:
        """Run the handshake and the message loop; clean up when the connection ends."""
        try:
            hello = await self._receive(frozenset({"hello"}), HELLO_TIMEOUT_S)
            session = await self._join(hello)
        except _Closed:
            return
        except Exception:
            logger.exception("a worker's handshake failed")
            await self._close_socket(CLOSE_INTERNAL_ERROR, "server error")
            return
        try:
            await self._loop(session)
        except _Closed:
            pass
        except Exception:
            logger.exception("worker %s: handling a message failed", session.name)
            # Closing makes the worker reconnect and send again what was not acked.
            await session.close(CLOSE_INTERNAL_ERROR, "server error")
        finally:
            # Outcomes already received are recorded before the worker counts as gone.
            await asyncio.gather(*self._settling, return_exceptions=True)
            await self._leave(session)

    # --- frames --------------------------------------------------------------------

    async def _receive(
        self, allowed: frozenset[str], timeout_s: float, session: WorkerSession | None = None
    ) -> Payload:
        try:
            async with asyncio.timeout(timeout_s):
                message = await self._websocket.receive()
        except TimeoutError:
            await self._refuse(CLOSE_POLICY_VIOLATION, f"no message for {timeout_s:g} s", session)
        if message["type"] == "websocket.disconnect":
            raise _Closed
        frame = message.get("bytes")
        if frame is None:
            await self._refuse(
                CLOSE_PROTOCOL_ERROR, "send binary msgpack frames, not text", session
            )
        try:
            return decode(frame, allowed=allowed)
        except ProtocolError as exc:
            await self._refuse(CLOSE_PROTOCOL_ERROR, exc.message, session)

    async def _refuse(
        self, code: int, message: str, session: WorkerSession | None = None
    ) -> NoReturn:
        """Send an `error` message, close the connection and raise _Closed."""
        logger.warning("closing a worker connection: %s", message)
        error = {"type": "error", "message": message}
        if session is not None:
            await session.send(error)
            await session.close(code, message[:120])
            raise _Closed
        try:
            await self._websocket.send_bytes(encode(error))
            await self._websocket.close(code, message[:120])
        except Exception:  # the peer may be gone already; either way we are done
            pass
        raise _Closed

    # --- joining and leaving -------------------------------------------------------

    async def _join(self, hello: Payload) -> WorkerSession:
        if hello["version"] != PROTOCOL_VERSION:
            await self._refuse(
                CLOSE_POLICY_VIOLATION,
                f"protocol version {hello['version']} is not supported; "
                f"this server speaks version {PROTOCOL_VERSION}",
            )
        try:
            name, queues, tags, tasks, capacity = worker_details(hello)
            leases = leases_of(hello["running"])
            unleased = unleased_of(hello)
        except ProtocolError as exc:
            await self._refuse(CLOSE_POLICY_VIOLATION, exc.message)
        hub, store = self._hub, self._store
        session = WorkerSession(
            name=name,
            queues=queues,
            tags=tags,
            tasks=tasks,
            capacity=capacity,
            send_frame=self._websocket.send_bytes,
            close_socket=self._close_socket,
        )
        async with self._dispatcher.membership:
            now = await store.now()
            await store.register_worker(
                WorkerInfo(
                    name=name,
                    queues=queues,
                    tags=tags,
                    tasks=tasks,
                    capacity=capacity,
                    running=len(leases) + unleased,
                    state="online",
                    server=hub.server_name,
                    connected_at=now,
                    last_seen_at=now,
                )
            )
            renewal = await renew(
                store, session, leases, unleased=unleased, lease_s=hub.settings.server.lease_s
            )
            # Welcome goes out before the session joins, so `jobs` never precedes it.
            await session.send(
                {
                    "type": "welcome",
                    "version": PROTOCOL_VERSION,
                    "server": hub.server_name,
                    "heartbeat_s": hub.settings.server.heartbeat_s,
                    "lease_s": hub.settings.server.lease_s,
                    "stale": renewal.stale,
                }
            )
            await tell_to_stop(session, renewal.to_stop, "cancelled while it was away")
            previous = self._dispatcher.add(session)
        if previous is not None:
            logger.warning("worker %s connected again; closing its older connection", name)
            await previous.send({"type": "error", "message": "replaced by a newer connection"})
            await previous.close(CLOSE_NORMAL, "replaced by a newer connection")
        hub.tasks.invalidate()
        hub.activity.worker(name, "online")
        logger.info("worker %s joined (capacity %d, queues %s)", name, capacity, queues)
        return session

    async def _close_socket(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # it may be closed already, in several ways
            await self._websocket.close(code, reason)

    async def _leave(self, session: WorkerSession) -> None:
        async with self._dispatcher.membership:
            if self._dispatcher.remove(session):
                try:
                    if not self._hub.stopping:
                        # Its jobs may still finish if it reconnects within the grace period.
                        # When this server is the one stopping, the worker is alive and
                        # comes back (here once restarted, or to another server): its
                        # leases keep the time its last heartbeat gave them, or a restart
                        # slower than the grace would run its jobs again while their code
                        # still runs on it.
                        await self._store.expire_leases_of(
                            session.name, self._hub.settings.server.disconnect_grace_s
                        )
                    await self._store.worker_gone(session.name)
                except Exception:
                    logger.exception("worker %s left, but recording that failed", session.name)
                logger.info("worker %s left", session.name)
                self._hub.activity.worker(session.name, "offline")
        self._dispatcher.wake()

    # --- the message loop ----------------------------------------------------------

    async def _loop(self, session: WorkerSession) -> None:
        while True:
            message = await self._receive(WORKER_MESSAGES, self._idle_s, session)
            kind = message["type"]
            if kind == "hello":
                await self._refuse(CLOSE_POLICY_VIOLATION, "a second hello", session)
            if kind in SETTLING:
                task = asyncio.create_task(self._settle_guarded(session, message))
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)
                continue
            try:
                await self._handlers[kind](session, message)
            except ProtocolError as exc:
                await self._refuse(CLOSE_POLICY_VIOLATION, exc.message, session)

    async def _settle_guarded(self, session: WorkerSession, message: Payload) -> None:
        try:
            await self._handlers[message["type"]](session, message)
        except Exception:
            logger.exception("worker %s: recording a %s failed", session.name, message["type"])
            # Closing makes the worker reconnect and send again what was not acked.
            await session.close(CLOSE_INTERNAL_ERROR, "server error")

    async def _heartbeat(self, session: WorkerSession, message: Payload) -> None:
        leases = leases_of(message["running"])
        if message["state"] not in ("online", "draining"):
            state = excerpt(message["state"])
            raise ProtocolError(f"heartbeat.state {state} is not online or draining")
        unleased, lease_s = unleased_of(message), self._hub.settings.server.lease_s
        renewal = await renew(self._store, session, leases, unleased=unleased, lease_s=lease_s)
        if renewal.freed:
            self._dispatcher.wake()
        await tell_to_stop(session, renewal.to_stop, "cancelled")
        session.draining = session.draining or message["state"] == "draining"
        with contextlib.suppress(InvalidValue):  # keep the last figures that could be stored
            session.resources = check_value(message["resources"], "resources")
        await self._store.worker_seen(
            session.name,
            running=len(leases) + unleased,
            state="draining" if session.draining else "online",
            resources=session.resources,
        )
        self._hub.activity.worker(session.name, "seen", running=len(leases) + unleased)
        if renewal.stale:
            await session.send({"type": "leases", "stale": renewal.stale})

    async def _stopping(self, session: WorkerSession, message: Payload) -> None:
        lease = Lease(job_id=message["job_id"], token=message["token"])
        with contextlib.suppress(StaleLease, JobNotFound):  # late, about an attempt now over
            text = escape_output(message["message"], MAX_PROGRESS_CHARS)
            self._hub.activity.changed(await self._store.report_stopping(lease, text))

    async def _progress(self, session: WorkerSession, message: Payload) -> None:
        progress = message.get("progress")
        if progress is not None:
            if not is_number(progress):
                raise ProtocolError("progress.progress must be a number or nil")
            progress = min(1.0, max(0.0, float(progress)))
        text = message.get("message")
        text = escape_output(text, MAX_PROGRESS_CHARS) if isinstance(text, str) else None
        lease = Lease(job_id=message["job_id"], token=message["token"])
        try:
            await self._store.report_progress(lease, progress, text)
        except (StaleLease, JobNotFound, InvalidTransition):
            return  # a late report about a job that moved on
        self._hub.waiters.notify(lease.job_id)
        self._hub.activity.progress(lease.job_id, progress, text)

    async def _log(self, session: WorkerSession, message: Payload) -> None:
        job_id, token = message["job_id"], message["token"]
        attempt = await self._attempt_of(session, job_id, token)
        if attempt is None:
            return  # stale: the lines belong to an attempt that no longer counts
        now = await self._store.now()
        events = [
            log_event(line, job_id=job_id, attempt=attempt, worker=session.name, now=now)
            for line in message["lines"][:MAX_LOG_LINES]
        ]
        await self._store.log(events)

    async def _attempt_of(
        self, session: WorkerSession, job_id: JobId, token: LeaseToken
    ) -> int | None:
        held = session.running.get(job_id)
        if held is not None and held.token == token and held.attempt is not None:
            return held.attempt
        try:
            job = await self._store.get_job(job_id)
        except JobNotFound:
            return None
        if job.lease_token != token:
            return None
        if held is not None and held.token == token:
            held.attempt = job.attempt
        return job.attempt

    async def _result(self, session: WorkerSession, message: Payload) -> None:
        try:
            result = check_result(message.get("result"))
        except InvalidValue as exc:
            error = f"the task's result cannot be stored: {exc.message}"
            await self._settle(
                session,
                message,
                lambda lease: self._store.fail(lease, error=error, retryable=False),
            )
            return
        await self._settle(session, message, lambda lease: self._store.complete(lease, result))

    async def _failure(self, session: WorkerSession, message: Payload) -> None:
        error = escape_output(message["error"], MAX_ERROR_CHARS)
        trace = message.get("traceback")
        trace = (
            escape_output(trace, MAX_TRACEBACK_CHARS, keep_end=True)
            if isinstance(trace, str)
            else None
        )
        retryable = message["retryable"]
        await self._settle(
            session,
            message,
            lambda lease: self._store.fail(
                lease, error=error, traceback=trace, retryable=retryable
            ),
        )

    async def _release(self, session: WorkerSession, message: Payload) -> None:
        await self._settle(session, message, self._store.release)

    async def _settle(
        self,
        session: WorkerSession,
        message: Payload,
        change: Callable[[Lease], Awaitable[Job]],
    ) -> None:
        """Apply a worker's final word on a job, then ack it (ok=False when stale)."""
        lease = Lease(job_id=message["job_id"], token=message["token"])
        ack: Payload = {"type": "ack", "job_id": lease.job_id, "ok": True}
        try:
            self._hub.activity.settled(await change(lease), message["type"])
        except (StaleLease, JobNotFound, InvalidTransition) as exc:
            ack.update(ok=False, error=exc.message)
            if message["type"] != "release":
                # Refused, as the job was cancelled meanwhile; but its code has stopped (a
                # worker reports only then), so the lease the job still holds ends.
                with contextlib.suppress(StaleLease, JobNotFound, InvalidTransition):
                    self._hub.activity.changed(await self._store.release(lease))
        held = session.running.get(lease.job_id)
        if held is not None and held.token == lease.token:
            session.forget(lease.job_id)
        self._hub.waiters.notify(lease.job_id)
        self._dispatcher.wake()
        await session.send(ack)

    async def _drain(self, session: WorkerSession, message: Payload) -> None:
        session.draining = True
        await self._store.worker_seen(
            session.name,
            running=session.busy,
            state="draining",
            resources=session.resources,
        )
        self._hub.activity.worker(session.name, "draining")
