"""The feed follower: what one server does when the change feed says jobs changed."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime
from typing import Any

import pytest

from rota.jobs import JobState
from rota.protocol import FROM_SERVER_SIDE, Batch, Cancel, Drain, Leases, ServerMessage, decode
from rota.server.dispatcher import Dispatcher, RunningJob, WorkerSession
from rota.server.events import Broadcaster
from rota.server.feed_follower import FeedFollower
from rota.server.waiters import Waiters
from rota.store.base import Store
from rota.store.feed import DrainRequest, JobChange, Refresh


class Socket:
    def __init__(self) -> None:
        self.sent: list[ServerMessage] = []

    async def send(self, frame: bytes) -> None:
        message = decode(frame, FROM_SERVER_SIDE)
        assert not isinstance(message, Batch)
        self.sent.append(message)

    async def close(self, code: int, reason: str) -> None:
        pass


def change(**fields: Any) -> JobChange:
    """Return a change of job j1 on worker w (a remote one: no token) with these fields."""
    values: dict[str, Any] = {
        "job_id": "j1",
        "state": JobState.CANCELLED,
        "queue": "default",
        "task": "t",
        "worker": "w",
        "attempt": 2,
        "leased": True,
        "stopping": True,
        "progress": None,
        "updated_at": datetime.now(UTC),
    }
    values.update(fields)
    return JobChange(**values)


def setup(store: Store) -> tuple[FeedFollower, Dispatcher, WorkerSession, Socket, Waiters]:
    dispatcher = Dispatcher(store=store, policy="least-loaded", lease_s=10.0)
    socket = Socket()
    session = WorkerSession(
        name="w",
        queues=["default"],
        tags=[],
        tasks=None,
        capacity=2,
        send_frame=socket.send,
        close_socket=socket.close,
    )
    dispatcher.add(session)
    session.running["j1"] = RunningJob(token="tok", attempt=2)
    waiters = Waiters()
    follower = FeedFollower(dispatcher=dispatcher, waiters=waiters, events=Broadcaster())
    return follower, dispatcher, session, socket, waiters


async def settle(follower: FeedFollower) -> None:
    await asyncio.sleep(0)
    await follower.close()


async def test_a_cancel_made_elsewhere_stops_the_attempt_here_once(store: Store) -> None:
    follower, _, session, socket, waiters = setup(store)
    with waiters.watch("j1") as woken:
        follower([change()])
        follower([change()])  # told twice (a repeat): the worker hears of it once
        await settle(follower)
        assert woken.is_set()
    assert socket.sent == [Cancel(job_id="j1", reason="cancelled by request")]
    assert session.running["j1"].cancel_sent


async def test_a_change_about_an_older_attempt_is_ignored(store: Store) -> None:
    follower, _, session, socket, _ = setup(store)
    follower([change(attempt=1)])  # the attempt before the one the worker runs
    follower([change(attempt=1, state=JobState.PENDING, leased=False, stopping=False)])
    await settle(follower)
    assert socket.sent == []
    assert "j1" in session.running, "an older attempt's end must not free the slot"
    follower([change(state=JobState.SUCCEEDED, leased=False, stopping=False)])
    assert "j1" not in session.running


async def test_a_worker_asking_to_stop_is_not_a_cancel(store: Store) -> None:
    follower, _, _, socket, _ = setup(store)
    follower([change(state=JobState.RUNNING)])  # its timeout passed: the worker stops it
    await settle(follower)
    assert socket.sent == []


async def test_a_drain_request_reaches_a_worker_connected_here(store: Store) -> None:
    follower, _, session, socket, _ = setup(store)
    follower([DrainRequest(worker="elsewhere"), DrainRequest(worker="w")])
    await settle(follower)
    assert socket.sent == [Drain()]
    assert session.draining and session.free_slots == 0


async def test_a_refresh_wakes_every_waiter(store: Store) -> None:
    follower, _, _, _, waiters = setup(store)
    with waiters.watch("j1") as first, waiters.watch("j2") as second:
        follower([Refresh()])
        assert first.is_set() and second.is_set()


async def test_a_device_hears_at_once_that_a_held_job_was_taken_back(store: Store) -> None:
    follower, _, session, socket, _ = setup(store)
    session.horizon_s = 600.0
    taken_back = change(state=JobState.PENDING, leased=False, stopping=False)
    follower([taken_back])
    await settle(follower)
    assert socket.sent == [Leases(stale=("j1",))]
    assert "j1" not in session.running
    follower([taken_back])  # no longer held here: nothing more to say
    await settle(follower)
    assert len(socket.sent) == 1


async def test_an_ordinary_worker_is_not_told_at_once(store: Store) -> None:
    follower, _, session, socket, _ = setup(store)
    follower([change(state=JobState.PENDING, leased=False, stopping=False)])
    await settle(follower)
    assert socket.sent == [] and "j1" not in session.running


async def test_a_device_holding_a_later_attempt_is_not_told_about_an_older_one(
    store: Store,
) -> None:
    follower, _, session, socket, _ = setup(store)
    session.horizon_s = 600.0
    follower([change(state=JobState.PENDING, leased=False, stopping=False, attempt=1)])
    await settle(follower)
    assert socket.sent == [] and "j1" in session.running


async def test_a_worker_with_a_lead_hears_at_once_that_a_held_job_was_taken_back(
    store: Store,
) -> None:
    follower, _, session, socket, _ = setup(store)
    session.lead_s = 0.5
    follower([change(state=JobState.PENDING, leased=False, stopping=False)])
    await settle(follower)
    assert socket.sent == [Leases(stale=("j1",))]


async def test_a_batch_of_new_jobs_asks_for_one_round_not_one_per_job(
    store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    # A wake looks at every session for a free slot: a bulk submission's changes while
    # every worker is busy cost one look, not one per job.
    follower, dispatcher, _, _, _ = setup(store)
    wakes: list[None] = []
    monkeypatch.setattr(dispatcher, "wake", lambda: wakes.append(None))
    follower(
        [
            change(job_id=f"n{n}", state=JobState.PENDING, worker=None, leased=False)
            for n in range(3)
        ]
    )
    assert len(wakes) == 1
