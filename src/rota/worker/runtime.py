"""The worker's main loop and lifecycle: connect, take jobs, report, drain, stop.

An attempt leaves its slot only when its code has stopped (worker/slots.py). A cancel, a
lost lease, a drain or the timeout asks the code to stop; until it has, the attempt is
listed in every heartbeat (so its lease holds and the server counts its slot), and only
then does the worker send its final word on it.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import socket
from collections import deque
from collections.abc import Callable, Sequence

from websockets.exceptions import ConnectionClosed

from rota import protocol
from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import ProtocolError, WorkerNameTaken
from rota.protocol import (
    Ack,
    Batch,
    Cancel,
    Drain,
    Error,
    Failure,
    Heartbeat,
    Hello,
    JobOrder,
    Jobs,
    Leases,
    Release,
    Result,
    ServerMessage,
    Stopping,
    Welcome,
)
from rota.safe_text import describe_exception, format_traceback, safe_str
from rota.settings import Settings
from rota.tasks.registry import TaskRegistry
from rota.types import JobId
from rota.worker.connection import Connector, Link, write_stderr
from rota.worker.executor import Executor, Outcome
from rota.worker.outbox import Outbox
from rota.worker.relay import Relay
from rota.worker.resources import ResourceSampler
from rota.worker.slots import Slot, Slots, Then

WELCOME_TIMEOUT_S = 10.0
FLUSH_TIMEOUT_S = 5.0
STOP_FLUSH_S = 0.5
STOP_AT_ONCE_WAIT_S = 1.0
"""How long a stop at once waits for code to stop, so that it can be released."""
MIN_HEARTBEAT_S = 0.01
RECONNECT_CHECK_S = 0.05
"""How often a job held past its run_at while the worker is cut off looks for the link."""
OFFSET_SAMPLES = 32
"""How many `jobs` frames' clock readings the worker's estimate of its clock offset keeps."""


class SessionRefused(Exception):
    """The server answered with an `error` message."""


class Worker:
    """Runs jobs a server hands out, over one reconnecting WebSocket."""

    def __init__(
        self,
        settings: Settings,
        registry: TaskRegistry,
        *,
        clock: Clock = SYSTEM_CLOCK,
        report: Callable[[str], None] = write_stderr,
        horizon_s: float = 0.0,
        on_release: Callable[[JobId], None] | None = None,
    ) -> None:
        """`horizon_s` and `on_release` are a device's: it takes jobs targeted at it that
        long before they are due, and hears of each job the server took back: released
        (cancelled, drained) and acknowledged, or its lease declared stale. A device's task
        keeps the time itself; any other worker holds a job handed over ahead of its run_at
        (within `[worker] lead_s`) and starts its code at that moment by the server's clock."""
        self.name = settings.worker.name or f"{socket.gethostname()}-{os.getpid()}"
        self._horizon_s = horizon_s
        self._holds = horizon_s <= 0
        self._offsets: deque[float] = deque(maxlen=OFFSET_SAMPLES)
        """This machine's monotonic clock minus the server's `sent_at`, plus the frame's way
        here: one per `jobs` frame (monotonic, so a step of the wall clock moves no hold)."""
        self._on_release = on_release
        self._settings = settings
        self._registry = registry
        self._clock = clock
        self._report_line = report
        self._connector = Connector(
            settings.worker.server,
            report=self._report,
            ca=settings.tls.ca,
            token=settings.auth.token,
        )
        self._heartbeat_s = settings.server.heartbeat_s
        self._slots = Slots()
        concurrency = settings.worker.concurrency
        self._capacity = concurrency + settings.worker.prefetch
        """The jobs the server may hand this worker at once: running, and prefetched."""
        self._code_slots = asyncio.Semaphore(concurrency)
        """Counts the attempts whose code runs, at most `concurrency`: a job taken beyond
        them (prefetched) waits for one in _take_code_slot, as does a held job at its
        run_at while prefetched ones fill the slots."""
        self._outbox = Outbox()
        self._releasing: set[JobId] = set()
        """Jobs whose word in the outbox is a release."""
        self._link: Link | None = None
        self._draining = False
        self._drain_requested = asyncio.Event()
        self._stop_requested = asyncio.Event()
        self._changed = asyncio.Event()
        self._beat_now = asyncio.Event()
        self._relay = Relay(self._slots, clock, lambda: self._link)
        self._executor = Executor(
            registry,
            worker_name=self.name,
            allow_shell=settings.worker.allow_shell,
            imports=settings.worker.imports,
            stop_grace_s=settings.worker.stop_grace_s,
        )
        self._sampler = ResourceSampler()

    @property
    def running(self) -> list[str]:
        """Return the ids of the jobs whose lease is held here (stopping ones too)."""
        return self._slots.job_ids()

    @property
    def busy(self) -> int:
        """Return how many slots hold code that has not stopped."""
        return self._slots.busy

    def request_drain(self) -> None:
        """Start draining: take no new jobs, let running ones finish within the grace, then
        stop the rest and release each once its code stopped, then return."""
        self._drain_requested.set()

    def request_stop(self) -> None:
        """Stop at once: stop every job's code, release what stops within a moment, return."""
        self._stop_requested.set()
        self._changed.set()

    async def run(self) -> bool:
        """Run until drained or stopped; return True if everything owed was delivered and
        no task code is left running (code that would not stop ends with the process)."""
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
            return not (self._outbox or self._slots.busy or self._stop_requested.is_set())
        finally:
            connection.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await connection
            for slot in self._slots.every():  # a child process must not outlive its worker
                slot.attempt.stop("the worker is exiting")
                if slot.task is not None:
                    slot.task.cancel()
            self._sampler.close()

    # -- lifecycle -------------------------------------------------------------------------

    async def _drain(self) -> None:
        self._draining = True
        if self._link is not None:
            self._link.post(Drain())
        for slot in self._slots.leased():
            if slot.held:  # its code has not started: another worker takes it at its time
                self._stop(slot, "the worker is draining", then="release")
        grace_s = self._settings.worker.drain_grace_s
        self._report(f"draining: {self._slots.busy} running, waiting up to {grace_s:g}s")
        await self._wait_until(lambda: not self._slots.busy, grace_s)
        if self._stop_requested.is_set():
            return
        reason = f"the worker is draining and its grace of {grace_s:g}s ran out"
        for slot in self._slots.leased():
            if slot.attempt.stop_reason is None:  # one that timed out reports its failure
                self._stop(slot, reason, then="release", tell=True)
        stop_grace_s = self._settings.worker.stop_grace_s
        if not await self._wait_until(lambda: not self._slots.busy, stop_grace_s):
            if self._stop_requested.is_set():
                return
            self._report(
                f"{self._slots.busy} job(s) did not stop within {stop_grace_s:g}s: leaving "
                "without releasing them; their leases run out once this process is gone"
            )
            return
        await self._wait_until(lambda: not self._outbox, FLUSH_TIMEOUT_S)

    async def _stop_at_once(self) -> None:
        self._draining = True
        for slot in self._slots.leased():
            if slot.attempt.stop_reason is None:
                self._stop(slot, "the worker is stopping at once", then="release", tell=True)
        await self._wait_until(lambda: not self._slots.busy, STOP_AT_ONCE_WAIT_S, stop=False)
        if self._link is not None:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(STOP_FLUSH_S):
                    await self._link.flushed()

    async def _wait_until(
        self, done: Callable[[], bool], timeout_s: float, *, stop: bool = True
    ) -> bool:
        """Wait until done() holds, the timeout passes or (with `stop`) a stop is requested."""
        try:
            async with asyncio.timeout(timeout_s):
                while not done() and not (stop and self._stop_requested.is_set()):
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
            except SessionRefused as exc:
                if str(exc) == WorkerNameTaken.MESSAGE:
                    raise WorkerNameTaken(
                        f"another worker or device named {self.name!r} connected to {link.url}, "
                        "and the server closed this one's connection: give each its own --name"
                    ) from None
                self._report(f"lost connection to {link.url}: {_describe(exc)}")
            except (ConnectionClosed, OSError, TimeoutError, ProtocolError) as exc:
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
        if isinstance(welcome, Error):
            raise SessionRefused(welcome.message)
        if not isinstance(welcome, Welcome):
            raise ProtocolError(f"expected welcome, got {welcome.TYPE}")
        self._connector.succeeded()
        self._offsets.clear()  # another server may keep another time
        self._heartbeat_s = max(MIN_HEARTBEAT_S, welcome.heartbeat_s)
        self._drop_stale(welcome.stale)
        self._link = link
        self._report(f"connected to {link.url}")
        if self._draining:
            link.post(Drain())
        for encoded in self._outbox:
            link.post_encoded(encoded)
        for slot in self._slots.leased():
            if slot.stopping_message is not None:
                link.post(_stopping(slot, slot.stopping_message))
        self._relay.flush()
        heartbeats = asyncio.create_task(self._heartbeats(link), name="rota-heartbeat")
        try:
            while True:
                self._handle(await link.recv())
        finally:
            heartbeats.cancel()

    def _hello(self) -> Hello:
        return Hello(
            version=protocol.PROTOCOL_VERSION,
            name=self.name,
            queues=tuple(self._settings.worker.queues),
            tags=tuple(self._settings.worker.tags),
            tasks=tuple(self._registry.names()),
            capacity=self._settings.worker.concurrency,
            prefetch=self._settings.worker.prefetch,
            running=self._slots.leases(),
            unleased=self._slots.unleased,
            horizon_s=self._horizon_s,
            lead_s=self._settings.worker.lead_s,
        )

    async def _heartbeats(self, link: Link) -> None:
        while True:
            self._beat_now.clear()
            resources = await asyncio.to_thread(self._sampler.sample)
            link.post(
                Heartbeat(
                    running=self._slots.leases(),
                    unleased=self._slots.unleased,
                    state="draining" if self._draining else "online",
                    resources=resources,
                    sent_at=self._clock.now_utc().timestamp(),
                )
            )
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(self._heartbeat_s):
                    await self._beat_now.wait()

    def _handle(self, received: ServerMessage | Batch) -> None:
        messages = received.messages if isinstance(received, Batch) else (received,)
        for message in messages:
            if isinstance(message, Jobs):
                if message.sent_at is not None:
                    self._offsets.append(self._clock.monotonic() - message.sent_at)
                for order in message.jobs:
                    self._take(order)
            elif isinstance(message, Cancel):
                slot = self._slots.get(message.job_id)
                if slot is not None:
                    reason = message.reason or "cancelled"
                    self._stop(slot, f"the job was cancelled ({reason})", then="release")
            elif isinstance(message, Leases):
                self._drop_stale(message.stale)
            elif isinstance(message, Ack):
                self._outbox.drop(message.job_id)
                released = message.job_id in self._releasing
                self._releasing.discard(message.job_id)
                if released and message.ok and self._on_release is not None:
                    self._on_release(message.job_id)
                if not message.ok:
                    reason = message.error or "stale lease"
                    self._report(f"server refused the outcome of job {message.job_id}: {reason}")
                self._changed.set()
            elif isinstance(message, Drain):
                self.request_drain()
            elif isinstance(message, Error):
                raise SessionRefused(message.message)
            else:
                raise ProtocolError(f"unexpected message type {message.TYPE}")

    # -- jobs ------------------------------------------------------------------------------

    def _take(self, order: JobOrder) -> None:
        old = self._slots.get(order.job_id)
        if old is not None:
            if old.order.token == order.token:
                return  # the same hand-out twice
            self._lose(old, "the server handed out a new attempt of the job")
        if self._draining or self._slots.busy >= self._room():
            self._put_outbox(Release(job_id=order.job_id, token=order.token))
            return
        context = self._relay.context_for(order, asyncio.get_running_loop())
        attempt = self._executor.attempt(
            order,
            context,
            on_stopping=lambda message: self._on_stopping(order, message),
        )
        slot = Slot(
            order=order,
            context=context,
            attempt=attempt,
            earlier=self._slots.earlier(order.job_id),
        )
        self._slots.add(slot)
        slot.task = asyncio.create_task(self._run_job(slot), name=f"rota-job {order.job_id}")

    async def _run_job(self, slot: Slot) -> None:
        try:
            for earlier in slot.earlier:  # never two attempts of one job at once, here either
                await earlier.stopped.wait()
            await self._hold_until_due(slot)
            if await self._take_code_slot(slot):
                try:
                    outcome = await slot.attempt.run()  # returns once the code has stopped
                finally:
                    self._code_slots.release()
            else:
                outcome = await slot.attempt.run()  # asked to stop first: runs nothing
        except asyncio.CancelledError:
            return  # the worker is exiting
        except Exception as exc:  # a bug of ours must still end the attempt, not the worker
            outcome = Outcome.failure(
                f"worker error: {describe_exception(exc)}",
                traceback=format_traceback(exc),
                retryable=True,
            )
        self._stopped(slot, outcome)

    def clock_offset_s(self) -> float:
        """Return this worker's wall clock minus the server's, in seconds, as the last `jobs`
        frames tell it (plus the quickest frame's way here); 0 before any frame said its
        time."""
        if not self._offsets:
            return 0.0
        return self._monotonic_offset_s() - self._wall_to_monotonic_s()

    def _monotonic_offset_s(self) -> float:
        """Return how far to shift the server's moments onto this machine's monotonic
        clock: the least of (monotonic clock minus `sent_at`) over the last `jobs` frames,
        the clocks' offset plus the quickest frame's way here, so a moment shifted by it is
        never early by the server's clock. Before any frame said its time, this machine's
        wall clock stands for the server's."""
        return min(self._offsets, default=self._wall_to_monotonic_s())

    def _wall_to_monotonic_s(self) -> float:
        return self._clock.monotonic() - self._clock.now_utc().timestamp()

    async def _hold_until_due(self, slot: Slot) -> None:
        """Keep a job handed over ahead of its run_at until that moment (by the server's
        clock, from this one and its offset); a cancel or a lost lease ends the wait. A job
        held while the worker is cut off from the server starts only once it is connected
        again and its lease is not among the stale ones: the server may have given the job
        back and handed it to another worker meanwhile."""
        run_at = slot.order.run_at
        if not self._holds or run_at is None:
            return
        due = run_at + self._monotonic_offset_s()  # on the monotonic clock
        slot.held = True
        try:
            while True:
                left_s = due - self._clock.monotonic()
                # The loop's timer runs on the monotonic clock too, and may wake a hair
                # early: the clock is asked again after each wait.
                if left_s <= 0:
                    break
                if not await slot.attempt.hold(left_s):
                    return
            while self._link is None:
                if not await slot.attempt.hold(RECONNECT_CHECK_S):
                    return
        finally:
            slot.held = False

    def _stuck_count(self) -> int:
        """Return how many attempts' code outlived its stop grace and still runs."""
        return sum(1 for slot in self._slots.every() if slot.attempt.stuck)

    def _room(self) -> int:
        """Return how many jobs this worker holds at most now: its slots and its prefetch,
        but only its slots while stuck code fills every one of them (a prefetched job
        would wait for as long as that code runs)."""
        if self._capacity > self._settings.worker.concurrency:
            if self._stuck_count() >= self._settings.worker.concurrency:
                return self._settings.worker.concurrency
        return self._capacity

    async def _take_code_slot(self, slot: Slot) -> bool:
        """Wait until fewer than `concurrency` attempts run code here, and count this one;
        return False (nothing counted) if the attempt is asked to stop first. Only a job
        taken beyond `concurrency` (`[worker] prefetch`) ever waits here: it is held, as a
        job ahead of its run_at is, so a drain gives it back."""
        slots = self._code_slots
        if not slots.locked():
            await slots.acquire()  # a slot is free: returns at once
            return True
        slot.held = True
        taking = asyncio.ensure_future(slots.acquire())
        try:
            while not taking.done():
                if not await slot.attempt.hold_until(taking):
                    break
        except BaseException:  # cancelled (the worker is exiting): take nothing
            if taking.done() and not taking.cancelled():
                slots.release()
            else:
                taking.cancel()  # a waiter cancelled as it was woken passes its turn on
            raise
        finally:
            slot.held = False
        if not taking.done():
            taking.cancel()
        elif not taking.cancelled():
            if slot.attempt.stop_reason is None:
                return True
            slots.release()  # taken as the stop came: let the next job have it
        return False

    def _stopped(self, slot: Slot, outcome: Outcome) -> None:
        """The attempt's code has stopped: free its slot and give the server the final word."""
        slot.stopped.set()
        if self._slots.free(slot):
            self._beat_now.set()  # the server counts unleased slots: tell it one is free
        if slot.then != "nothing":
            self._relay.send_logs(slot)
        if slot.then == "release" and not outcome.ok:
            self._put_outbox(Release(job_id=slot.order.job_id, token=slot.order.token))
        elif slot.then in ("report", "release"):
            # Code asked to stop that still finished its work reports it: released, the job
            # would be done twice (a device's reminder ringing as it was asked to stop).
            self._put_outbox(outcome.message(slot.order.lease))
        self._changed.set()

    def _stop(self, slot: Slot, reason: str, *, then: Then, tell: bool = False) -> None:
        """Ask the slot's code to stop and, once it has, say `then` (unless the lease is gone)."""
        if slot.then != "nothing":
            slot.then = then
        first = slot.attempt.stop_reason is None
        slot.attempt.stop(reason)
        if tell and first:
            self._on_stopping(slot.order, f"{reason}; stopping its code")

    def _on_stopping(self, order: JobOrder, message: str) -> None:
        """Report that an attempt's code is being stopped, or has not stopped in time."""
        self._report(f"job {order.job_id} (attempt {order.attempt}): {message}")
        slot = self._slots.current(order.job_id, order.token)
        if slot is not None:
            slot.stopping_message = message
            if self._link is not None:
                self._link.post(_stopping(slot, message))
        stuck = slot is not None and slot.attempt.stuck
        if stuck and self._stuck_count() >= self._settings.worker.concurrency:
            # No slot will free while this code runs on: jobs waiting for one (prefetched,
            # or held for their run_at) go back, for other workers to take.
            for waiting in self._slots.leased():
                if waiting.held and waiting.attempt.stop_reason is None:
                    self._stop(waiting, "every slot of the worker is stuck", then="release")
        if stuck and self._settings.worker.exit_when_stuck and not self._draining:
            # The process going is what ends the stuck code: its lease is not released, so
            # it runs out only once the code is gone. A supervisor starts a fresh worker.
            self._report("draining, to exit and leave the stuck code behind")
            self.request_drain()

    def _put_outbox(self, message: Result | Failure | Release) -> None:
        """Encode a final word once, keep it until acked, and send it if connected."""
        try:
            encoded = protocol.encode(message)
        except ProtocolError as exc:  # a result is within the limits, so only a bug gets here
            failure = Outcome.failure(str(exc), retryable=False)
            encoded = protocol.encode(failure.message(message.lease))
        self._outbox.put(message.job_id, encoded)
        if isinstance(message, Release):
            self._releasing.add(message.job_id)
        else:
            self._releasing.discard(message.job_id)
        if self._link is not None:
            self._link.post_encoded(encoded)

    def _lose(self, slot: Slot, reason: str) -> None:
        """The slot's lease is gone: stop its code and say nothing more about it."""
        self._slots.lose(slot)
        slot.then = "nothing"
        slot.attempt.stop(reason)
        self._beat_now.set()  # the server must count the slot until the code stopped
        self._changed.set()

    def _drop_stale(self, job_ids: Sequence[str]) -> None:
        for job_id in job_ids:
            slot = self._slots.get(job_id)
            if slot is not None:
                self._lose(slot, "its lease is no longer valid")
            self._outbox.drop(job_id)
            self._releasing.discard(job_id)
            if self._on_release is not None:
                self._on_release(job_id)
        if job_ids:
            self._changed.set()

    def _report(self, line: str) -> None:
        self._report_line(f"rota worker {self.name}: {line}")


def _stopping(slot: Slot, message: str) -> Stopping:
    return Stopping(job_id=slot.order.job_id, token=slot.order.token, message=message)


def _describe(exc: BaseException) -> str:
    text = safe_str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
