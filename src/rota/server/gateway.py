"""The WebSocket endpoint workers connect to: a hello/welcome handshake, then a message loop.

The gateway owns the workers' sockets: it reads their frames through the protocol's codec,
which checks each once and returns typed messages, and it builds every message the server
sends them. Each worker holds one connection. Its messages are handled in order, except the
final words on jobs (result, failure, release): those settle concurrently with what follows,
and the results and failures that arrive in one `batch` are recorded in one store
transaction (Store.settle) and acked in one frame. An `ack` always follows the store change
it confirms.
"""

from __future__ import annotations

import asyncio
import contextlib
import hmac
import logging
import secrets
from collections.abc import Awaitable, Callable, Sequence
from typing import Any, NoReturn, TypeAlias

from fastapi import APIRouter, WebSocket

from rota.auth.tokens import digest_of
from rota.errors import (
    InvalidTransition,
    InvalidValue,
    JobNotFound,
    ProtocolError,
    StaleLease,
)
from rota.jobs import Job
from rota.protocol import (
    FROM_WORKER_SIDE,
    PROTOCOL_VERSION,
    WEBSOCKET_PATH,
    Ack,
    Batch,
    Cancel,
    Drain,
    Error,
    Failure,
    Heartbeat,
    Hello,
    Leases,
    Log,
    MessageRefused,
    Progress,
    ProtocolVersionError,
    Release,
    Result,
    ServerMessage,
    Stopping,
    Welcome,
    WorkerMessage,
    decode,
    encode,
)
from rota.protocol.closing import (
    CLOSE_FORBIDDEN,
    CLOSE_HELLO_REFUSED,
    CLOSE_INTERNAL_ERROR,
    CLOSE_NAME_TAKEN,
    CLOSE_NORMAL,
    CLOSE_POLICY_VIOLATION,
    CLOSE_PROTOCOL_ERROR,
    CLOSE_UNAUTHENTICATED,
    CLOSE_UNSUPPORTED_VERSION,
    close_reason,
)
from rota.protocol.messages import CLOCK_OFFSET
from rota.server.dispatcher import WorkerSession
from rota.server.frames import log_event, progress_fraction, resources_of
from rota.server.guard import principal_of
from rota.server.state import Hub
from rota.store.base import Failure as FailedAttempt
from rota.store.base import Outcome, Settled, Success, WorkerInfo
from rota.store.names import NameClaim, NameHeld
from rota.types import JobId
from rota.values import (
    MAX_ERROR_CHARS,
    MAX_PROGRESS_CHARS,
    MAX_TRACEBACK_CHARS,
    check_result_json,
    escape_output,
)

logger = logging.getLogger("rota.server.gateway")
router = APIRouter()

HELLO_TIMEOUT_S = 10.0
MAX_LOG_LINES = 1000
SESSION_SECRET_BYTES = 32
REPLACED = "replaced by this worker's newer connection"
"""What the server tells a connection whose worker came back on another one."""

Settling: TypeAlias = Result | Failure | Release
"""Final words on jobs: messages about different jobs that need no order among themselves."""


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
        # A live worker speaks at least every heartbeat; silence this long means it is gone
        # (here, and to every server sharing the store: see _register).
        self._idle_s = max(settings.server.lease_s, 3 * settings.server.heartbeat_s)
        self._handlers: dict[type, Callable[[WorkerSession, Any], Awaitable[None]]] = {
            Heartbeat: self._heartbeat,
            Progress: self._progress,
            Log: self._log,
            Stopping: self._stopping,
            Drain: self._drain,
        }
        self._settling: set[asyncio.Task[None]] = set()
        self._revoked: asyncio.Future[None] | None = None

    async def serve(self) -> None:
        """Run the handshake and the message loop; clean up when the connection ends."""
        try:
            hello = await self._receive(HELLO_TIMEOUT_S)
            if not isinstance(hello, Hello):
                await self._refuse(
                    CLOSE_PROTOCOL_ERROR, f"unexpected message type {hello.TYPE}: say hello first"
                )
            session = await self._join(hello)
        except _Closed:
            return
        except Exception:
            logger.exception("a worker's handshake failed")
            await self._close_socket(CLOSE_INTERNAL_ERROR, "server error")
            return
        principal = principal_of(self._websocket.scope)

        def revoked() -> None:
            message = "the worker's token was revoked"
            logger.warning("worker %s: %s; closing its connection", session.name, message)

            async def close() -> None:
                with contextlib.suppress(Exception):  # it may be gone already
                    await session.send(Error(message=message))
                await session.close(CLOSE_UNAUTHENTICATED, message)

            self._revoked = asyncio.ensure_future(close())

        try:
            with self._hub.guard.watch(principal, revoked):
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
        self, timeout_s: float, session: WorkerSession | None = None
    ) -> WorkerMessage | Batch:
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
            decoded: WorkerMessage | Batch = decode(frame, FROM_WORKER_SIDE)
        except ProtocolVersionError as exc:
            await self._refuse(CLOSE_UNSUPPORTED_VERSION, exc.message, session)
        except MessageRefused as exc:
            # A hello refused is refused for good: the worker would send the same one again.
            code = CLOSE_POLICY_VIOLATION if session is not None else CLOSE_HELLO_REFUSED
            await self._refuse(code, exc.message, session)
        except ProtocolError as exc:
            await self._refuse(CLOSE_PROTOCOL_ERROR, exc.message, session)
        return decoded

    async def _refuse(
        self, code: int, message: str, session: WorkerSession | None = None
    ) -> NoReturn:
        """Send an `error` message, close the connection and raise _Closed."""
        logger.warning("closing a worker connection: %s", message)
        error = Error(message=message)
        if session is not None:
            await session.send(error)
            await session.close(code, message)
            raise _Closed
        try:
            await self._websocket.send_bytes(encode(error))
            await self._websocket.close(code, close_reason(message))
        except Exception:  # the peer may be gone already; either way we are done
            pass
        raise _Closed

    # --- joining and leaving -------------------------------------------------------

    async def _join(self, hello: Hello) -> WorkerSession:
        """Welcome the worker and add its session; refuse it (CLOSE_NAME_TAKEN) when a live
        worker holds its name, on this server or another sharing the store, and the hello
        does not present that worker's session."""
        # The codec checked the version, the names and the limits.
        principal = principal_of(self._websocket.scope)
        token = None if principal is None else principal.token
        binding = None if token is None else token.binding
        if token is not None and binding is not None and not binding.admits(hello.name, hello.tags):
            await self._refuse(
                CLOSE_FORBIDDEN,
                f"token {token.id} is bound to {binding}: it may not connect a "
                f"worker named {hello.name!r} with tags {list(hello.tags)}",
            )
        session = WorkerSession(
            name=hello.name,
            queues=hello.queues,
            tags=hello.tags,
            tasks=hello.tasks,
            capacity=hello.capacity,
            send_frame=self._websocket.send_bytes,
            close_socket=self._close_socket,
            horizon_s=hello.horizon_s,
            lead_s=hello.lead_s,
            prefetch=hello.prefetch,
            secret=secrets.token_urlsafe(SESSION_SECRET_BYTES),
            # A bound token's worker runs only the jobs meant for what it was bound to.
            targets=None if binding is None else binding.targets(hello.name, hello.tags),
        )
        async with self._dispatcher.membership:
            live = self._dispatcher.get(session.name)
            # Checked before anything is recorded: a refused hello changes nothing. A live
            # connection here holds the name unless the worker moved to another server
            # since; one through another server sharing the store is checked by the store,
            # in the step that registers this one.
            taken_here = (
                live is not None
                and not _resumes(live, hello.session)
                and not await self._moved_here(hello)
            )
            held = None if taken_here else await self._register(session, hello)
            admitted = not taken_here and held is None
            previous = await self._admit(session, hello) if admitted else None
        if not admitted:
            await self._refuse_name(session.name, held)
        if previous is not None:
            # The worker lost its network and came back: the old connection is dead.
            logger.warning("worker %s came back; closing its older connection", session.name)
            await previous.send(Error(message=REPLACED))
            await previous.close(CLOSE_NORMAL, REPLACED)
        self._hub.tasks.invalidate()
        self._hub.activity.worker(session.name, "online")
        logger.info(
            "worker %s joined (capacity %d, queues %s)",
            session.name,
            session.capacity,
            session.queues,
        )
        return session

    async def _moved_here(self, hello: Hello) -> bool:
        """Tell whether a hello, under the name of a session connected here, presents the
        session through which another server sharing the store lists that worker: it moved
        there and came back, and the connection here is a dead one not noticed yet."""
        if not self._store.shared or hello.session is None:
            return False
        presented = digest_of(hello.session)
        for entry in await self._store.list_workers():
            if entry.name == hello.name:
                return (
                    entry.server != self._hub.server_name
                    and entry.session_digest is not None
                    and hmac.compare_digest(entry.session_digest, presented)
                )
        return False

    async def _register(self, session: WorkerSession, hello: Hello) -> NameHeld | None:
        """Register the worker as online, unless a live connection through another server
        holds its name (then return what holds it, and nothing changed)."""
        now = await self._store.now()
        info = WorkerInfo(
            name=session.name,
            queues=session.queues,
            tags=session.tags,
            tasks=list(hello.tasks),
            capacity=session.capacity,
            running=len(hello.running) + hello.unleased,
            state="online",
            server=self._hub.server_name,
            connected_at=now,
            last_seen_at=now,
            session_digest=session.digest,
        )
        if not self._store.shared:  # this server's dispatcher knows all there is to know
            await self._store.register_worker(info)
            return None
        presented = None if hello.session is None else digest_of(hello.session)
        return await self._store.register_worker(
            info, NameClaim(live_s=self._idle_s, presented=presented)
        )

    async def _admit(self, session: WorkerSession, hello: Hello) -> WorkerSession | None:
        """Renew the leases a registered worker presents, welcome it and add its session to
        the dispatcher (with the membership lock held); return the session it replaces."""
        hub = self._hub
        renewal = await hub.jobs.renew(session, hello.running, unleased=hello.unleased)
        # Welcome goes out before the session joins, so `jobs` never precedes it.
        welcome = Welcome(
            version=PROTOCOL_VERSION,
            server=hub.server_name,
            heartbeat_s=float(hub.settings.server.heartbeat_s),
            lease_s=float(hub.settings.server.lease_s),
            stale=tuple(renewal.stale),
            session=session.secret,
        )
        await session.send(welcome, *_cancels(renewal.to_stop, "cancelled while it was away"))
        return self._dispatcher.add(session)

    async def _refuse_name(self, name: str, held: NameHeld | None) -> NoReturn:
        """Refuse a hello under the name of a live worker: connected here (`held` None) or,
        as the store found it, through another server."""
        address = self._websocket.client
        where = "this server" if held is None else f"server {held.server or '(unknown)'}"
        logger.warning(
            "refused a connection from %s under the name of live worker %s (connected to %s)",
            f"{address.host}:{address.port}" if address else "an unknown address",
            name,
            where,
        )
        if held is None:
            why = "a worker of that name is connected to this server"
        else:
            free_in_s = held.free_in_s(self._idle_s, await self._store.now())
            server = "another server" if held.server is None else f"server {held.server!r}"
            why = (
                f"a worker of that name is connected to {server}: stop that worker, or, if "
                f"it is gone already, try again in {free_in_s} s"
            )
        await self._refuse(
            CLOSE_NAME_TAKEN,
            f"the worker name {name!r} is taken: {why}; give each worker its own --name",
        )

    async def _close_socket(self, code: int, reason: str) -> None:
        with contextlib.suppress(Exception):  # it may be closed already, in several ways
            await self._websocket.close(code, close_reason(reason))

    async def _leave(self, session: WorkerSession) -> None:
        async with self._dispatcher.membership:
            if self._dispatcher.remove(session):
                try:
                    await self._hub.jobs.worker_left(session, server_stopping=self._hub.stopping)
                except Exception:
                    logger.exception("worker %s left, but recording that failed", session.name)
                logger.info("worker %s left", session.name)
                self._hub.activity.worker(session.name, "offline")
        self._dispatcher.wake()

    # --- the message loop ----------------------------------------------------------

    async def _loop(self, session: WorkerSession) -> None:
        while True:
            message = await self._receive(self._idle_s, session)
            batch = message.messages if isinstance(message, Batch) else (message,)
            settling: list[Settling] = []
            freed = False
            for item in batch:
                if isinstance(item, Result | Failure | Release):
                    settling.append(item)
                    if not isinstance(item, Release):
                        # The code has stopped: its slot can be filled while the outcome
                        # is recorded, and the acks go out with the jobs that fill it.
                        freed = session.finished(item.job_id, item.token) or freed
                elif isinstance(item, Hello):
                    await self._refuse(CLOSE_POLICY_VIOLATION, "a second hello", session)
                else:
                    await self._handlers[type(item)](session, item)
            if freed:
                self._dispatcher.wake()
            if settling:
                task = asyncio.create_task(self._settle_guarded(session, settling))
                self._settling.add(task)
                task.add_done_callback(self._settling.discard)

    async def _settle_guarded(self, session: WorkerSession, messages: Sequence[Settling]) -> None:
        """Record the outcomes and ack them; if either fails, close the connection: the
        worker reconnects and sends again what was not acked (a task of its own: nobody
        else would see the error, and the worker would wait for its acks for ever)."""
        doing = "recording"
        try:
            acks = await self._settle(session, messages)
            doing = "acknowledging"
            await self._dispatcher.acknowledge(session, acks)
        except Exception:
            kinds = ", ".join(sorted({message.TYPE for message in messages}))
            logger.exception("worker %s: %s a %s failed", session.name, doing, kinds)
            await session.close(CLOSE_INTERNAL_ERROR, "server error")

    async def _heartbeat(self, session: WorkerSession, message: Heartbeat) -> None:
        leases, unleased = message.running, message.unleased
        renewal = await self._hub.jobs.renew(session, leases, unleased=unleased)
        session.draining = session.draining or message.state == "draining"
        with contextlib.suppress(InvalidValue):  # keep the last figures that could be stored
            session.resources = resources_of(message.resources)
        if message.sent_at is not None:
            offset_s = message.sent_at - self._hub.clock.now_utc().timestamp()
            session.resources = {**session.resources, CLOCK_OFFSET: round(offset_s, 3)}
        await self._hub.jobs.worker_seen(
            session, running=len(leases) + unleased, resources=session.resources
        )
        replies: list[ServerMessage] = _cancels(renewal.to_stop, "cancelled")
        if renewal.stale:
            replies.append(Leases(stale=tuple(renewal.stale)))
        if replies:
            await session.send(*replies)

    async def _stopping(self, session: WorkerSession, message: Stopping) -> None:
        text = escape_output(message.message, MAX_PROGRESS_CHARS)
        await self._hub.jobs.report_stopping(message.lease, text)

    async def _progress(self, session: WorkerSession, message: Progress) -> None:
        progress = progress_fraction(message.progress)
        text = message.message
        text = None if text is None else escape_output(text, MAX_PROGRESS_CHARS)
        await self._hub.jobs.report_progress(message.lease, progress, text)

    async def _log(self, session: WorkerSession, message: Log) -> None:
        job_id = message.job_id
        attempt = await self._hub.jobs.attempt_of(session, job_id, message.token)
        if attempt is None:
            return  # stale: the lines belong to an attempt that no longer counts
        now = await self._hub.jobs.now()
        events = [
            log_event(line, job_id=job_id, attempt=attempt, worker=session.name, now=now)
            for line in message.lines[:MAX_LOG_LINES]
        ]
        await self._hub.jobs.log(events)

    def _outcome_of(self, message: Result | Failure) -> Outcome:
        """Return the store outcome a worker's result or failure reports (a result that
        breaks the value rules fails the job for good)."""
        if isinstance(message, Failure):
            trace = message.traceback
            return FailedAttempt(
                lease=message.lease,
                error=escape_output(message.error, MAX_ERROR_CHARS),
                traceback=(
                    None
                    if trace is None
                    else escape_output(trace, MAX_TRACEBACK_CHARS, keep_end=True)
                ),
                retryable=message.retryable,
            )
        try:
            return Success(lease=message.lease, result=check_result_json(message.result_json))
        except InvalidValue as exc:
            refused = f"the task's result cannot be stored: {exc.message}"
            return FailedAttempt(lease=message.lease, error=refused, retryable=False)

    async def _settle(self, session: WorkerSession, messages: Sequence[Settling]) -> list[Ack]:
        """Apply a worker's final words on jobs and return their acks, in order (ok=False
        when stale): results and failures in one store transaction, releases one by one."""
        reports = [message for message in messages if not isinstance(message, Release)]
        settled = (
            await self._hub.jobs.settle([self._outcome_of(m) for m in reports]) if reports else []
        )
        answers = {id(message): answer for message, answer in zip(reports, settled, strict=True)}
        acks: list[Ack] = []
        for message in messages:
            if isinstance(message, Release):
                try:
                    answer: Settled = await self._hub.jobs.release(message.lease)
                except (StaleLease, JobNotFound, InvalidTransition) as exc:
                    answer = exc
            else:
                answer = answers[id(message)]
            acks.append(await self._settled(session, message, answer))
        return acks

    async def _settled(self, session: WorkerSession, message: Settling, answer: Settled) -> Ack:
        """Follow up one final word the store answered: the job as it now is, or the error
        that refused it."""
        lease = message.lease
        ack = Ack(job_id=lease.job_id, ok=True)
        if isinstance(answer, Job):
            self._hub.jobs.count_settled(answer, message.TYPE)
        elif isinstance(answer, StaleLease | JobNotFound | InvalidTransition):
            ack = Ack(job_id=lease.job_id, ok=False, error=answer.message)
            if not isinstance(message, Release):
                # Refused, as the job was cancelled meanwhile; but its code has stopped (a
                # worker reports only then), so the lease the job still holds ends.
                await self._hub.jobs.end_lease(lease)
        else:
            raise answer  # not a refusal the protocol knows: a fault, handled by the caller
        return ack

    async def _drain(self, session: WorkerSession, message: Drain) -> None:
        await self._hub.jobs.worker_draining(session)


def _resumes(live: WorkerSession, secret: str | None) -> bool:
    """Tell whether a hello presenting `secret` comes from the worker of the live session
    (its welcome gave it that secret), so that it may take the session's place."""
    return secret is not None and bool(live.secret) and hmac.compare_digest(live.secret, secret)


def _cancels(job_ids: Sequence[JobId], reason: str) -> list[ServerMessage]:
    """Return a `cancel` for each job: the worker stops its code, then releases the lease."""
    return [Cancel(job_id=job_id, reason=reason) for job_id in job_ids]
