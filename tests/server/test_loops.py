"""The dispatcher, reaper and waiters driven directly, over a real store on a manual clock."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Sequence
from datetime import UTC, datetime, timedelta

import pytest

from rota.clock import ManualClock
from rota.device.runtime import CAPACITY as DEVICE_CAPACITY
from rota.errors import JobNotFound
from rota.jobs import Job, JobSpec, JobState
from rota.protocol import FROM_SERVER_SIDE, Jobs, decode
from rota.protocol.messages import Ack
from rota.server.dispatcher import PLAN_STEPS, Dispatcher, Policy, WorkerSession
from rota.server.reaper import Reaper
from rota.server.waiters import FALLBACK_POLL_S, Waiters
from rota.store.base import AcquireRequest, Store
from rota.store.factory import open_store
from rota.store.feed import Change, JobChange


@pytest.fixture
def clock() -> ManualClock:
    return ManualClock()


@pytest.fixture
async def manual_store(db_path: str, clock: ManualClock) -> AsyncIterator[Store]:
    opened = open_store(db_path, clock=clock)
    await opened.open()
    yield opened
    await opened.close()


class Socket:
    """The sending side of a worker's socket: records frames, or fails when told to."""

    def __init__(self, *, broken: bool = False) -> None:
        self.broken = broken
        self.sent: list[Jobs] = []

    async def send(self, frame: bytes) -> None:
        if self.broken:
            raise ConnectionResetError("the peer is gone")
        message = decode(frame, FROM_SERVER_SIDE)
        assert isinstance(message, Jobs)
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        self.broken = True

    def job_ids(self) -> list[str]:
        return [job.job_id for frame in self.sent for job in frame.jobs]


def session(name: str, socket: Socket, capacity: int = 1) -> WorkerSession:
    return WorkerSession(
        name=name,
        queues=["default"],
        tags=[],
        tasks=None,
        capacity=capacity,
        send_frame=socket.send,
        close_socket=socket.close,
    )


def dispatcher(store: Store, policy: Policy = "least-loaded") -> Dispatcher:
    """Return a dispatcher whose sessions' lease counts follow the store's change feed."""
    hub = Dispatcher(store=store, policy=policy, lease_s=10.0)

    def follow(changes: Sequence[Change]) -> None:
        for change in changes:
            if isinstance(change, JobChange):
                hub.follow(change)

    store.feed.subscribe(follow)
    return hub


async def submit(store: Store, count: int) -> list[str]:
    jobs = await store.submit([JobSpec(task="rota.echo", args=[n]) for n in range(count)])
    return [job.id for job in jobs]


async def test_never_sends_more_than_the_free_slots(manual_store: Store) -> None:
    await submit(manual_store, 10)
    hub = dispatcher(manual_store)
    socket = Socket()
    worker = session("w", socket, capacity=3)
    hub.add(worker)
    assert await hub.dispatch_once() == 3
    assert len(socket.job_ids()) == 3
    assert await hub.dispatch_once() == 0
    worker.forget(socket.job_ids()[0])
    assert await hub.dispatch_once() == 1
    assert len(socket.job_ids()) == 4


async def test_least_loaded_balances_unequal_workers(manual_store: Store) -> None:
    await submit(manual_store, 3)
    hub = dispatcher(manual_store)
    big, small = Socket(), Socket()
    hub.add(session("big", big, capacity=4))
    hub.add(session("small", small, capacity=2))
    assert await hub.dispatch_once() == 3
    # Half full each: the bigger worker takes two, the smaller one.
    assert (len(big.job_ids()), len(small.job_ids())) == (2, 1)


async def test_a_failed_send_gives_the_jobs_back(manual_store: Store) -> None:
    [job_id] = await submit(manual_store, 1)
    hub = dispatcher(manual_store)
    dead = session("dead", Socket(broken=True), capacity=2)
    hub.add(dead)
    assert await hub.dispatch_once() == 0
    job = await manual_store.get_job(job_id)
    assert job.state is JobState.PENDING
    assert dead.closed
    assert dead.running == {}
    alive = Socket()
    hub.add(session("alive", alive))
    assert await hub.dispatch_once() == 1
    assert alive.job_ids() == [job_id]


async def test_a_replaced_session_is_not_removed_by_its_predecessor(
    manual_store: Store,
) -> None:
    hub = dispatcher(manual_store)
    old, new = session("w", Socket()), session("w", Socket())
    hub.add(old)
    assert hub.add(new) is old
    assert hub.remove(old) is False
    assert hub.get("w") is new
    assert hub.remove(new) is True
    assert hub.get("w") is None


async def test_reaper_requeues_an_expired_lease_and_frees_the_slot(
    manual_store: Store, clock: ManualClock
) -> None:
    [job_id] = await submit(manual_store, 1)
    hub = dispatcher(manual_store)
    socket = Socket()
    worker = session("w", socket)
    hub.add(worker)
    await hub.dispatch_once()
    assert worker.free_slots == 0
    reaper = Reaper(store=manual_store, interval_s=1, retention_s=60)
    assert await reaper.reap_once() == 0
    clock.advance(11)
    assert await reaper.reap_once() == 1
    assert worker.free_slots == 1
    reaped = await manual_store.get_job(job_id)
    assert (reaped.state, reaped.attempt) == (JobState.PENDING, 1)


async def test_retention_purges_old_finished_jobs(manual_store: Store, clock: ManualClock) -> None:
    old, young = await submit(manual_store, 2)
    await manual_store.cancel(old)
    clock.advance(100)
    await manual_store.cancel(young)
    reaper = Reaper(store=manual_store, interval_s=1, retention_s=50)
    assert await reaper.purge_once() == 1
    with pytest.raises(JobNotFound):
        await manual_store.get_job(old)
    assert (await manual_store.get_job(young)).state is JobState.CANCELLED


async def test_waiting_sees_a_change_told_by_the_feed(store: Store) -> None:
    [job_id] = await submit(store, 1)
    waiters = Waiters()
    store.feed.subscribe(
        lambda changes: [waiters.notify(c.job_id) for c in changes if isinstance(c, JobChange)]
    )
    waiting = asyncio.create_task(waiters.wait_finished(store, job_id, 30))
    await asyncio.sleep(0.05)
    assert not waiting.done()
    await store.cancel(job_id)
    # Told at once: long before the store poll that covers a lost notice would look.
    job = await asyncio.wait_for(waiting, FALLBACK_POLL_S / 2)
    assert job.state is JobState.CANCELLED
    assert waiters.waiting(job_id) == 0


async def test_dispatcher_loop_wakes_for_a_delayed_job(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a poll far longer than the wait below, only waking at the job's run_at is in time.
    monkeypatch.setattr("rota.server.dispatcher.POLL_S", 60.0)
    hub = dispatcher(store)
    socket = Socket()
    hub.add(session("w", socket))
    running = asyncio.create_task(hub.run())
    try:
        run_at = await store.now() + timedelta(seconds=0.2)
        [job] = await store.submit([JobSpec(task="rota.echo", run_at=run_at)])
        hub.wake()
        for _ in range(1000):
            if socket.sent:
                break
            await asyncio.sleep(0.01)
        assert socket.job_ids() == [job.id]
        started = await store.get_job(job.id)
        assert started.started_at is not None and started.started_at >= run_at
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


async def test_dispatcher_loop_wakes_when_a_reminder_comes_within_a_devices_horizon(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # With a poll far longer than the wait below, only waking at run_at - horizon is in time.
    monkeypatch.setattr("rota.server.dispatcher.POLL_S", 60.0)
    hub = dispatcher(store)
    socket = Socket()
    device = WorkerSession(
        name="laptop",
        queues=["reminders"],
        tags=["device", "device:laptop"],
        tasks=None,
        capacity=10,
        send_frame=socket.send,
        close_socket=socket.close,
        horizon_s=30.0,
    )
    hub.add(device)
    running = asyncio.create_task(hub.run())
    try:
        run_at = await store.now() + timedelta(seconds=30.3)
        spec = JobSpec(task="rota.remind", queue="reminders", target="device", run_at=run_at)
        [job] = await store.submit([spec])
        hub.wake()
        for _ in range(1000):
            if socket.sent:
                break
            await asyncio.sleep(0.01)
        assert socket.job_ids() == [job.id]
        started = await store.get_job(job.id)
        # Handed over ahead of its run_at; its record says it starts then, not before.
        assert started.started_at == run_at
    finally:
        running.cancel()
        await asyncio.gather(running, return_exceptions=True)


def device_session(name: str, socket: Socket) -> WorkerSession:
    return WorkerSession(
        name=name,
        queues=["reminders"],
        tags=["device", f"device:{name}"],
        tasks=["rota.remind"],
        capacity=DEVICE_CAPACITY,
        send_frame=socket.send,
        close_socket=socket.close,
        horizon_s=600.0,
    )


async def test_an_idle_round_with_two_devices_plans_few_claims(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Two devices of 10,000 slots each, equally loaded, once made every round (every
    # submission's) one write transaction of 20,000 one-slot claims: about a second each.
    planned: list[int] = []
    acquire_many = store.acquire_many

    async def counting(requests: Sequence[AcquireRequest]) -> list[list[Job]]:
        planned.append(len(requests))
        return await acquire_many(requests)

    monkeypatch.setattr(store, "acquire_many", counting)
    hub = dispatcher(store)
    a, b, worker = Socket(), Socket(), Socket()
    hub.add(device_session("a", a))
    hub.add(device_session("b", b))
    hub.add(session("w", worker, capacity=4))
    assert await hub.dispatch_once() == 0
    assert len(planned) == 1 and planned[0] <= PLAN_STEPS
    # Work still flows: an ordinary job to the worker, reminders spread over both devices.
    await submit(store, 1)
    due = await store.now() + timedelta(seconds=60)
    spec = JobSpec(task="rota.remind", queue="reminders", target="device", run_at=due)
    await store.submit([spec] * 6)
    assert await hub.dispatch_once() == 7
    assert len(worker.job_ids()) == 1
    assert (len(a.job_ids()), len(b.job_ids())) == (3, 3)
    assert max(planned) <= PLAN_STEPS


async def test_a_round_beyond_the_plan_cap_hands_out_everything(store: Store) -> None:
    hub = dispatcher(store)
    a, b = Socket(), Socket()
    hub.add(device_session("a", a))
    hub.add(device_session("b", b))
    due = await store.now() + timedelta(seconds=60)
    spec = JobSpec(task="rota.remind", queue="reminders", target="device", run_at=due)
    count = PLAN_STEPS + 10
    await store.submit([spec] * count)
    assert await hub.dispatch_once() == count
    assert abs(len(a.job_ids()) - len(b.job_ids())) <= 1


async def test_a_jobs_frame_never_says_a_time_ahead_of_the_stores_clock(db_path: str) -> None:
    # The store's clock is years behind this server's, and the dispatcher has not read it
    # yet: a frame stamped with this server's clock would have a worker with a lead start
    # the job years early. It says the claim's moment by the store's clock instead.
    store = open_store(db_path, clock=ManualClock(datetime(2020, 1, 1, tzinfo=UTC)))
    await store.open()
    try:
        run_at = await store.now() + timedelta(seconds=0.3)
        [job] = await store.submit([JobSpec(task="rota.echo", run_at=run_at)])
        hub = dispatcher(store)
        socket = Socket()
        worker = session("w", socket)
        worker.lead_s = 0.5
        hub.add(worker)
        assert await hub.dispatch_once() == 1
        [frame] = socket.sent
        assert socket.job_ids() == [job.id]
        assert frame.sent_at is not None
        assert frame.sent_at <= (await store.now()).timestamp()
    finally:
        await store.close()


async def test_an_ack_that_comes_while_a_rounds_held_acks_go_out_is_sent_at_once(
    manual_store: Store,
) -> None:
    """Acks held for a round go out at its end; one that comes meanwhile must not wait
    for a round that may not come before the poll."""
    hub = dispatcher(manual_store)
    frames: list[bytes] = []
    second: list[asyncio.Task[None]] = []
    second_came = asyncio.Event()

    async def send(frame: bytes) -> None:
        frames.append(frame)
        if b"first-ack" in frame:  # the second comes while the first is on its way
            ack = Ack(job_id="second-ack", ok=True)
            second.append(asyncio.create_task(hub.acknowledge(worker, [ack])))
            await asyncio.sleep(0)  # it is decided (held, or sent once this send is done)
            second_came.set()

    async def close(code: int, reason: str) -> None:
        pass

    worker = WorkerSession(
        name="w",
        queues=["default"],
        tags=[],
        tasks=None,
        capacity=1,
        send_frame=send,
        close_socket=close,
    )
    hub.add(worker)
    loop = asyncio.create_task(hub.run())
    try:
        hub.wake()
        await hub.acknowledge(worker, [Ack(job_id="first-ack", ok=True)])  # held for the round
        assert frames == []
        async with asyncio.timeout(10):
            await second_came.wait()
            await second[0]
        assert any(b"second-ack" in frame for frame in frames)
    finally:
        loop.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await loop


async def test_a_wake_with_no_free_slot_anywhere_asks_for_no_round(manual_store: Store) -> None:
    # A round could hand nothing out; what frees a slot or brings a worker wakes it.
    hub = dispatcher(manual_store)
    hub.wake()
    assert not hub.woken
    socket = Socket()
    worker = session("w", socket, capacity=1)
    hub.add(worker)  # a worker with a free slot joins: a round
    assert hub.woken
    await submit(manual_store, 2)
    assert await hub.dispatch_once() == 1
    hub._wake.clear()  # as the loop does when a round begins
    hub.wake()  # its one slot is taken: nothing to hand out
    assert not hub.woken
    worker.forget(socket.job_ids()[0])  # the slot frees
    hub.wake()
    assert hub.woken
