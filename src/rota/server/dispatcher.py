"""The dispatcher: hands due jobs to the free slots of the workers connected to this server."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal

from rota.auth.tokens import digest_of
from rota.clock import SYSTEM_CLOCK, Clock
from rota.errors import InvalidTransition, JobNotFound, StaleLease
from rota.jobs import Job, Lease
from rota.protocol import Ack, ServerMessage, encode_item, frames_for, frames_of
from rota.server.handout import pack_jobs
from rota.store.base import AcquireRequest, Store
from rota.store.feed import JobChange
from rota.types import JobId, LeaseToken

logger = logging.getLogger("rota.server.dispatcher")

Policy = Literal["least-loaded", "round-robin"]
SendFrame = Callable[[bytes], Awaitable[None]]
CloseSocket = Callable[[int, str], Awaitable[None]]

POLL_S = 1.0
"""The longest the dispatcher sleeps without a wake-up: it catches what another server did."""
ERROR_PAUSE_S = 0.5
PLAN_STEPS = 256
"""The most requests one claim round plans. Least-loaded planning interleaves equally loaded
workers a slot at a time, so a plan covering every free slot of two devices (10,000 slots
each) was 20,000 one-slot requests in one write transaction, every round, even with nothing
due. A round that fills its plan is followed by another, so the cap bounds a round's cost,
not how many jobs are handed out."""


@dataclass(slots=True)
class RunningJob:
    """A job a session's worker runs, as far as this server knows: its lease is held until
    the worker says the attempt's code stopped, even after the job was cancelled."""

    token: LeaseToken
    attempt: int | None
    cancel_sent: bool = False
    """Whether this server told the worker to stop it (the job was cancelled)."""


class WorkerSession:
    """One connected worker: what it can run, what it runs, and its socket's writer."""

    def __init__(
        self,
        *,
        name: str,
        queues: Sequence[str],
        tags: Sequence[str],
        tasks: Sequence[str] | None,
        capacity: int,
        send_frame: SendFrame,
        close_socket: CloseSocket,
        horizon_s: float = 0.0,
        lead_s: float = 0.0,
        prefetch: int = 0,
        secret: str = "",
        targets: Sequence[str] | None = None,
    ) -> None:
        self.name = name
        self.targets = None if targets is None else list(targets)
        """A worker whose token is bound: the only targets whose jobs it may claim (see
        AcquireRequest.targets); None: any job of its queues not targeted at others."""
        self.secret = secret
        """Given to the worker in its welcome: a hello presenting it takes this session's
        place while the session still counts as live (empty: no hello can)."""
        self.digest = digest_of(secret) if secret else None
        """What the store keeps of the secret (store/names.py); None without a secret."""
        self.horizon_s = horizon_s
        """A device's: how long before their run_at it takes jobs targeted at it."""
        self.lead_s = lead_s
        """How long before their run_at it takes any job (it starts each by its own timer)."""
        self.queues = list(queues)
        self.tags = list(tags)
        self.tasks = list(tasks) if tasks is not None else None
        self.capacity = capacity
        """The worker's slots: how many jobs its code runs at once (its load's measure)."""
        self.prefetch = prefetch
        """How many jobs it takes beyond its slots, each started as a slot frees."""
        self.running: dict[JobId, RunningJob] = {}
        self.unleased = 0
        """Slots the worker says are taken by code still stopping after its lease was lost."""
        self.draining = False
        self.closed = False
        self.resources: dict[str, Any] = {}
        self.sequence = 0
        """Set by the dispatcher: the order workers joined in (round-robin's order)."""
        self.last_given = 0
        """Set by the dispatcher: when this worker last got jobs (least-loaded's tie-break)."""
        self._send_frame = send_frame
        self._close_socket = close_socket
        # One writer at a time, so two frames never interleave on the socket.
        self._write_lock = asyncio.Lock()
        self._held_acks: list[bytes] = []
        """Acks (encoded) waiting to go out in the next frame of jobs, or alone."""

    @property
    def busy(self) -> int:
        """Return how many slots are taken: by leases held (running or stopping attempts)
        and by code still stopping after its lease was lost."""
        return len(self.running) + self.unleased

    @property
    def limit(self) -> int:
        """Return how many jobs the worker may hold at once: its slots and its prefetch."""
        return self.capacity + self.prefetch

    @property
    def free_slots(self) -> int:
        """Return how many more jobs the worker may be sent now (prefetch included)."""
        if self.draining or self.closed:
            return 0
        return max(0, self.limit - self.busy)

    @property
    def load(self) -> float:
        """Return the jobs it holds per slot: above 1 when prefetched jobs wait for a slot,
        so a worker with idle slots is always less loaded than one with jobs waiting."""
        return self.busy / self.capacity

    async def send(self, *messages: ServerMessage) -> bool:
        """Send messages in order, those ready together in as few frames as fit; return False
        (and mark the session closed) if the socket is gone."""
        for frame in frames_for(messages):
            if not await self.send_frame(frame):
                return False
        return True

    async def send_frame(self, frame: bytes, *, with_acks: bool = False) -> bool:
        """Send one encoded frame; return False (and mark the session closed) if it failed.

        With `with_acks` (a frame of messages that may share a batch), the acks held by
        hold_acks() go first in the same frame, or frames when they would not fit.
        """
        async with self._write_lock:
            if self.closed:
                return False
            frames = [frame]
            if with_acks and self._held_acks:
                held, self._held_acks = self._held_acks, []
                frames = frames_of([*((ack, True) for ack in held), (frame, True)])
            try:
                for each in frames:
                    await self._send_frame(each)
            except Exception as exc:  # the socket layer raises several unrelated types
                logger.info("sending to worker %s failed: %r", self.name, exc)
                self.closed = True
                return False
        return True

    def hold_acks(self, acks: Sequence[Ack]) -> None:
        """Keep acks to send with the next jobs this worker is handed (one frame for both),
        or alone by send_held_acks(); each is encoded once, here."""
        self._held_acks.extend(encode_item(ack) for ack in acks)

    async def send_held_acks(self) -> bool:
        """Send the acks held by hold_acks() that no frame of jobs took along."""
        if not self._held_acks:
            return True
        held, self._held_acks = self._held_acks, []
        for frame in frames_of((ack, True) for ack in held):
            if not await self.send_frame(frame):
                return False
        return True

    def finished(self, job_id: JobId, token: LeaseToken) -> bool:
        """Stop counting a job whose outcome the worker sent (its code has stopped, so its
        slot is free) before the store records it; return whether it was counted."""
        held = self.running.get(job_id)
        if held is None or held.token != token:
            return False
        del self.running[job_id]
        return True

    async def close(self, code: int, reason: str) -> None:
        """Close the worker's socket; later sends fail."""
        self.closed = True
        with contextlib.suppress(Exception):  # it may be closed already, in several ways
            await self._close_socket(code, reason)

    def forget(self, job_id: JobId) -> bool:
        """Stop counting a job against the worker's slots; return whether it was counted."""
        return self.running.pop(job_id, None) is not None


class Dispatcher:
    """Keeps this server's worker sessions and matches due jobs to their free slots."""

    def __init__(
        self,
        *,
        store: Store,
        policy: Policy,
        lease_s: float,
        clock: Clock = SYSTEM_CLOCK,
        on_started: Callable[[list[Job]], None] | None = None,
        on_failed: Callable[[Job], None] | None = None,
    ) -> None:
        self._store = store
        self._on_started = on_started
        self._on_failed = on_failed
        self._policy = policy
        self._lease_s = lease_s
        self._clock = clock
        self._store_ahead_s: float | None = None
        """The store's clock minus this server's, as last read (never more than it is): a
        `jobs` frame says the store's time, the one run_at is kept by. None until read."""
        self._sessions: dict[str, WorkerSession] = {}
        self._wake = asyncio.Event()
        self._in_round = False
        self._joined = 0
        self._handed = 0
        self._last_round_robin = 0
        self.membership = asyncio.Lock()
        """Held while a worker joins or leaves, so a reconnect never races its own cleanup."""

    # --- sessions ------------------------------------------------------------------

    def sessions(self) -> list[WorkerSession]:
        """Return the connected sessions in the order they joined."""
        return sorted(self._sessions.values(), key=lambda session: session.sequence)

    def get(self, name: str) -> WorkerSession | None:
        """Return the session of the worker with that name, if it is connected here."""
        return self._sessions.get(name)

    def add(self, session: WorkerSession) -> WorkerSession | None:
        """Make the session current for its name and return the one it replaces, if any."""
        self._joined += 1
        session.sequence = self._joined
        previous = self._sessions.get(session.name)
        self._sessions[session.name] = session
        self.wake()
        return previous

    def remove(self, session: WorkerSession) -> bool:
        """Drop the session; return False if a newer one had replaced it already."""
        session.closed = True
        if self._sessions.get(session.name) is not session:
            return False
        del self._sessions[session.name]
        return True

    def follow(self, change: JobChange) -> None:
        """Keep the sessions' counts of held leases in step with a change in the store.

        The store is the one record of what runs where; a session's `running` only caches
        the leases of its worker. A lease the change says is held by a worker connected
        here is counted (with its token, known on the server that acquired it); one it says
        ended is dropped, unless the session holds a later attempt already (a change from
        another server can arrive after this server acquired the job again).
        """
        if change.worker is None:
            return
        session = self._sessions.get(change.worker)
        if session is None:
            return
        held = session.running.get(change.job_id)
        if change.leased:
            token = change.lease_token
            if token is not None and (held is None or held.token != token):
                session.running[change.job_id] = RunningJob(token=token, attempt=change.attempt)
            return
        if held is not None and (held.attempt is None or held.attempt <= change.attempt):
            session.forget(change.job_id)
            self.wake()

    @property
    def woken(self) -> bool:
        """Tell whether a dispatch round is asked for and has not begun yet."""
        return self._wake.is_set()

    def wake(self) -> None:
        """Ask for a dispatch round as soon as possible, when a worker here has a free
        slot: a round has nothing to hand out otherwise, and whatever frees a slot or
        brings a worker (a result, a lease that ended, a join) wakes the loop itself."""
        if not self._wake.is_set() and any(
            session.free_slots > 0 for session in self._sessions.values()
        ):
            self._wake.set()

    async def acknowledge(self, session: WorkerSession, acks: Sequence[Ack]) -> None:
        """Send a worker acks for its final words, which the store recorded: in the same
        frame as the jobs a dispatch round under way, or asked for, hands it (the slots
        those words freed are being filled), else at once. Acks held for a round go out at
        its end if it handed that worker nothing."""
        if not acks:
            return
        if self._in_round or self._wake.is_set():
            session.hold_acks(acks)
            return
        await session.send(*acks)

    async def _send_held_acks(self) -> None:
        for session in list(self._sessions.values()):
            await session.send_held_acks()

    # --- the loop ------------------------------------------------------------------

    async def run(self) -> None:
        """Dispatch whenever woken, when the next delayed job is due, or every POLL_S."""
        moments: list[tuple[float, datetime | None]] = []
        self.wake()  # a first round at once, for what is due already
        while True:
            try:
                await self._sleep(moments)
                self._wake.clear()
                self._in_round = True
                # Read before the round: a job that falls due while the round claims is
                # still ahead of this moment, so the round after it starts at once. Read
                # after the round, it would be neither claimed nor waited for, and would
                # wait for the next job's moment or the poll (up to POLL_S late).
                moments = await self._next_moments()
                await self.dispatch_once()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("dispatch round failed; retrying")
                moments = []
                self._in_round = False  # acks during the pause go out at once
                await self._send_held_acks()
                await asyncio.sleep(ERROR_PAUSE_S)
            finally:
                self._in_round = False

    async def listen(self) -> None:
        """Wake the dispatcher whenever the store signals work made due by another server."""
        while True:
            try:
                if await self._store.wait_for_work(POLL_S):
                    self.wake()
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # the store is down: the poll fallback carries on
                logger.warning("waiting for store notifications failed: %s", exc)
                await asyncio.sleep(ERROR_PAUSE_S)

    async def _next_moments(self) -> list[tuple[float, datetime | None]]:
        """Return, for each reach in use (the shortest lead of a worker with free slots,
        and the longest device's horizon), the earliest run_at of a pending job not in reach
        yet: when the next round should look."""
        free = [session for session in self._sessions.values() if session.free_slots > 0]
        if not free:
            # Nothing to hand out to, whatever is due: a worker that joins or a slot that
            # frees wakes the loop, so the store is not asked when the next job is due.
            return []
        # A worker takes any job lead_s early: look when the next one comes within the
        # shortest lead (a longer one's round then takes it a moment later than it could,
        # never later than its run_at). A device takes targeted jobs horizon_s early.
        lead_s = min(session.lead_s for session in free)
        horizon_s = max((s.horizon_s for s in self._sessions.values()), default=0.0)
        reaches = sorted({lead_s, horizon_s} if horizon_s > lead_s else {lead_s})
        return [(ahead_s, await self._store.next_run_at(ahead_s)) for ahead_s in reaches]

    async def _sleep(self, moments: list[tuple[float, datetime | None]]) -> None:
        """Wait for a wake-up, the first of `moments` (read before the last round: each a
        horizon and the next run_at beyond it), or POLL_S, whichever comes first."""
        if self._wake.is_set():
            return
        timeout_s = POLL_S
        now: datetime | None = None
        for ahead_s, next_run_at in moments:
            if next_run_at is not None:
                now = now or await self._store_now()
                until_s = (next_run_at - now).total_seconds() - ahead_s
                # A millisecond more, so the job is due when we look rather than a hair early.
                timeout_s = min(timeout_s, max(0.0, until_s) + 0.001)
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._wake.wait()

    async def _store_now(self) -> datetime:
        """Return the store's clock, and keep its offset from this server's clock (read
        after the store answered, so the offset errs low: a frame's time is never ahead)."""
        now = await self._store.now()
        self._store_ahead_s = (now - self._clock.now_utc()).total_seconds()
        return now

    async def dispatch_once(self) -> int:
        """Hand out due jobs until no worker with free slots gets any; return how many.
        Acks held for the round go out with each worker's jobs, or alone at its end."""
        handed = await self._dispatch()
        # The round's frames are out: acks from here on go at once, not held for a round
        # that may not come before the poll.
        self._in_round = False
        await self._send_held_acks()
        return handed

    async def _dispatch(self) -> int:
        if self._policy == "round-robin":
            return await self._dispatch_one_by_one()
        handed = 0
        exhausted: set[str] = set()
        while True:
            candidates = self._candidates(exhausted)
            if not candidates:
                return handed
            # One transaction claims for every free slot, in the order the rounds one
            # worker at a time would have claimed them (least loaded first).
            plan = self._plan(candidates)
            claimed = await self._store.acquire_many(
                [self._request(session, limit) for session, limit in plan]
            )
            got: dict[str, list[Job]] = {}
            order: dict[str, WorkerSession] = {}
            for (session, limit), jobs in zip(plan, claimed, strict=True):
                if len(jobs) < limit:
                    exhausted.add(session.name)
                if jobs:
                    got.setdefault(session.name, []).extend(jobs)
                    order.setdefault(session.name, session)
            if not got:
                return handed
            for name, jobs in got.items():
                handed += await self._hand_over(order[name], jobs)

    def _candidates(self, exhausted: set[str]) -> list[WorkerSession]:
        """Return the workers with free slots that have not yet come up short this round."""
        return [
            session
            for session in self._sessions.values()
            if session.free_slots > 0 and session.name not in exhausted
        ]

    async def _dispatch_one_by_one(self) -> int:
        handed = 0
        exhausted: set[str] = set()
        while True:
            candidates = self._candidates(exhausted)
            if not candidates:
                return handed
            session, limit = self._pick(candidates)
            jobs = await self._store.acquire(self._request(session, limit))
            if len(jobs) < limit:
                exhausted.add(session.name)
            if jobs:
                # The turn passes only to a worker that got something: one that found
                # nothing to run must not cost the next worker its turn.
                self._last_round_robin = session.sequence
                # Jobs may have arrived since others came up empty: ask them again.
                exhausted.clear()
                handed += await self._hand_over(session, jobs)

    def _request(self, session: WorkerSession, limit: int) -> AcquireRequest:
        return AcquireRequest(
            worker=session.name,
            queues=session.queues,
            tags=session.tags,
            tasks=session.tasks,
            limit=limit,
            lease_s=self._lease_s,
            horizon_s=session.horizon_s,
            lead_s=session.lead_s,
            targets=session.targets,
        )

    def _plan(self, candidates: list[WorkerSession]) -> list[tuple[WorkerSession, int]]:
        """Return the least-loaded picks, in order, that would fill every free slot, at most
        PLAN_STEPS of them (the next round plans the rest)."""
        busy = {session.name: session.busy for session in candidates}
        given = {session.name: session.last_given for session in candidates}
        step = self._handed
        plan: list[tuple[WorkerSession, int]] = []
        left = list(candidates)
        while left and len(plan) < PLAN_STEPS:
            left.sort(key=lambda s: (busy[s.name] / s.capacity, given[s.name]))
            chosen = left[0]
            free = chosen.limit - busy[chosen.name]
            if len(left) == 1:
                limit = free
            else:
                following = left[1]
                level = math.ceil(busy[following.name] / following.capacity * chosen.capacity)
                limit = max(1, min(level - busy[chosen.name], free))
            plan.append((chosen, limit))
            busy[chosen.name] += limit
            step += 1
            given[chosen.name] = step
            left = [s for s in left if busy[s.name] < s.limit]
        return plan

    def _pick(self, candidates: list[WorkerSession]) -> tuple[WorkerSession, int]:
        """Return the worker that gets the next jobs, and how many it may take now."""
        if self._policy == "round-robin":
            ordered = sorted(candidates, key=lambda session: session.sequence)
            after = [s for s in ordered if s.sequence > self._last_round_robin]
            chosen = (after or ordered)[0]
            return chosen, 1  # one at a time, so the turn really passes
        ordered = sorted(candidates, key=lambda session: (session.load, session.last_given))
        chosen = ordered[0]
        if len(ordered) == 1:
            return chosen, chosen.free_slots
        # Fill the least-loaded worker up to the next one's load, then compare again.
        level = math.ceil(ordered[1].load * chosen.capacity) - chosen.busy
        return chosen, max(1, min(level, chosen.free_slots))

    async def _hand_over(self, session: WorkerSession, jobs: list[Job]) -> int:
        self._handed += 1
        session.last_given = self._handed
        if self._store_ahead_s is None:
            # Not read yet: the claim's moment is the store's time, and a little behind it.
            sent_at = max(job.updated_at for job in jobs).timestamp()
        else:
            sent_at = self._clock.now_utc().timestamp() + self._store_ahead_s
        handout = pack_jobs(jobs, sent_at=sent_at)
        for job, reason in handout.refused:
            await self._fail_alone(session, job, reason)
        handed = 0
        for index, (frame, batch) in enumerate(handout.frames):
            current = self._sessions.get(session.name) is session
            if current and await session.send_frame(frame, with_acks=index == 0):
                if self._on_started is not None:
                    self._on_started(batch)
                handed += len(batch)
                continue
            # The socket went away between acquire and send: give the rest straight back.
            for _, unsent in handout.frames[index:]:
                await self._give_back(session, unsent)
            break
        if handout.refused or handed < len(jobs):
            self.wake()
        return handed

    async def _give_back(self, session: WorkerSession, jobs: list[Job]) -> None:
        for job in jobs:
            if job.lease_token is None:
                continue
            with contextlib.suppress(StaleLease, JobNotFound):
                await self._store.release(Lease(job_id=job.id, token=job.lease_token))

    async def _fail_alone(self, session: WorkerSession, job: Job, reason: str) -> None:
        """Fail a job that cannot be sent, for good; the others of its batch go on."""
        if job.lease_token is None:
            return
        logger.warning("job %s failed: %s", job.id, reason)
        try:
            failed = await self._store.fail(
                Lease(job_id=job.id, token=job.lease_token), error=reason, retryable=False
            )
        except (StaleLease, JobNotFound, InvalidTransition):
            return
        if self._on_failed is not None:
            self._on_failed(failed)
