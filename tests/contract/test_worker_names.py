"""The Store contract, worker names: a hello's claim to a name is refused while a live
connection through another server holds it (online, heard from within the claim's
live_s, another session than the one presented), and the check and the registration are
one step, so of two racing claims exactly one wins. An entry's later writes (heartbeats,
its departure) are fenced by its session."""

from __future__ import annotations

import asyncio
from datetime import timedelta

from rota.clock import ManualClock
from rota.jobs import JobState
from rota.store import Store, WorkerInfo
from rota.store.names import NameClaim, NameHeld

from .conftest import OpenStore
from .helpers import claim as claim_jobs
from .helpers import submit_one

LIVE_S = 30.0
HONEST = "a" * 64
"""The digest of the honest connection's session (the store sees digests only)."""
OTHER = "b" * 64


def hello(name: str, *, server: str, session_digest: str, capacity: int = 1) -> WorkerInfo:
    return WorkerInfo(
        name=name,
        queues=["default"],
        capacity=capacity,
        server=server,
        session_digest=session_digest,
    )


def claim(presented: str | None = None) -> NameClaim:
    return NameClaim(live_s=LIVE_S, presented=presented)


async def entry(store: Store, name: str) -> WorkerInfo:
    [found] = [worker for worker in await store.list_workers() if worker.name == name]
    return found


async def test_a_live_name_held_through_another_server_is_refused_and_nothing_changes(
    store: Store, clock: ManualClock
) -> None:
    assert (
        await store.register_worker(hello("w", server="A", session_digest=HONEST), claim()) is None
    )
    seen_at = clock.now_utc()
    clock.advance(LIVE_S - 1)
    for presented in (None, OTHER):
        impostor = hello("w", server="B", session_digest=OTHER, capacity=99)
        held = await store.register_worker(impostor, claim(presented))
        assert held == NameHeld(server="A", last_seen_at=seen_at)
        assert held.free_in_s(LIVE_S, clock.now_utc()) == 1
    kept = await entry(store, "w")
    assert (kept.server, kept.capacity, kept.session_digest) == ("A", 1, HONEST)
    assert kept.state == "online" and kept.last_seen_at == seen_at


async def test_a_draining_worker_holds_its_name_too(store: Store) -> None:
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    await store.worker_seen("w", running=1, state="draining", resources={}, session_digest=HONEST)
    held = await store.register_worker(hello("w", server="B", session_digest=OTHER), claim())
    assert held is not None and held.server == "A"


async def test_the_holder_s_session_is_let_in_anywhere_and_the_new_one_holds_the_name(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    clock.advance(1)
    moved = hello("w", server="B", session_digest=OTHER, capacity=2)
    assert await store.register_worker(moved, claim(presented=HONEST)) is None
    now = await entry(store, "w")
    assert (now.server, now.capacity, now.session_digest) == ("B", 2, OTHER)
    assert now.last_seen_at == clock.now_utc()
    # The old session no longer opens the name: the entry holds the new one.
    third = hello("w", server="C", session_digest="c" * 64)
    assert await store.register_worker(third, claim(presented=HONEST)) is not None


async def test_an_entry_not_heard_from_within_live_s_holds_nothing(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    await store.worker_seen("w", running=0, state="online", resources={}, session_digest=HONEST)
    clock.advance(LIVE_S)  # its server was killed: nobody wrote its entry since
    restarted = hello("w", server="B", session_digest=OTHER)
    assert await store.register_worker(restarted, claim()) is None
    assert (await entry(store, "w")).session_digest == OTHER


async def test_an_offline_entry_holds_nothing(store: Store) -> None:
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    assert await store.worker_gone("w", session_digest=HONEST) is True
    assert (
        await store.register_worker(hello("w", server="B", session_digest=OTHER), claim()) is None
    )
    assert (await entry(store, "w")).state == "online"


async def test_an_entry_of_the_claiming_server_is_left_to_that_server(store: Store) -> None:
    # Its own connections are its dispatcher's to check: an entry of its own without one
    # is a leftover (of a restart under the same name, for one).
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    assert (
        await store.register_worker(hello("w", server="A", session_digest=OTHER), claim()) is None
    )


async def test_without_a_claim_the_entry_is_replaced(store: Store) -> None:
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    assert await store.register_worker(hello("w", server="B", session_digest=OTHER)) is None
    assert (await entry(store, "w")).server == "B"


async def test_of_two_claims_racing_for_a_name_exactly_one_wins(
    store: Store, open_store: OpenStore
) -> None:
    other = await open_store()
    try:
        for number in range(20):
            name = f"w{number}"
            first = hello(name, server="A", session_digest=HONEST)
            second = hello(name, server="B", session_digest=OTHER)
            answers = await asyncio.gather(
                store.register_worker(first, claim()), other.register_worker(second, claim())
            )
            assert sum(answer is None for answer in answers) == 1, answers
            winner = "A" if answers[0] is None else "B"
            assert [held.server for held in answers if held is not None] == [winner]
            kept = await entry(store, name)
            assert kept.server == winner
            assert kept.session_digest == (HONEST if winner == "A" else OTHER)
    finally:
        await other.close()


async def test_heartbeats_and_departures_of_a_replaced_session_change_nothing(
    store: Store, clock: ManualClock
) -> None:
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    moved = hello("w", server="B", session_digest=OTHER)
    await store.register_worker(moved, claim(presented=HONEST))
    registered_at = clock.now_utc()
    clock.advance(5)
    # The old connection, on A, had not noticed yet.
    await store.worker_seen(
        "w", running=7, state="draining", resources={"cpu_percent": 1}, session_digest=HONEST
    )
    assert await store.worker_gone("w", session_digest=HONEST) is False
    kept = await entry(store, "w")
    assert (kept.state, kept.running, kept.last_seen_at) == ("online", 0, registered_at)
    # The connection that holds it writes as ever.
    await store.worker_seen("w", running=2, state="online", resources={}, session_digest=OTHER)
    assert (await entry(store, "w")).last_seen_at == registered_at + timedelta(seconds=5)
    assert await store.worker_gone("w", session_digest=OTHER) is True
    assert (await entry(store, "w")).state == "offline"
    assert await store.worker_gone("nobody") is False


async def test_a_departure_s_grace_spares_the_leases_of_a_worker_back_elsewhere(
    store: Store, clock: ManualClock
) -> None:
    """Server A marks the worker's old connection gone, then cuts its leases to the
    disconnect grace; the worker may have come back through B in between (presenting its
    session) and renewed them. Its leases stay as B renewed them: cut, they would be
    reaped and run again while its code still runs."""
    await store.register_worker(hello("w", server="A", session_digest=HONEST), claim())
    await submit_one(store)
    [job] = await claim_jobs(store, "w", lease_s=LIVE_S)
    assert await store.worker_gone("w", session_digest=HONEST)
    back = hello("w", server="B", session_digest=OTHER)
    assert await store.register_worker(back, claim(HONEST)) is None
    assert await store.expire_leases_of("w", 1) == 0
    clock.advance(2)
    assert await store.reap() == []
    assert (await store.get_job(job.id)).state is JobState.RUNNING
    # Gone for good, its leases go within the grace.
    assert await store.worker_gone("w", session_digest=OTHER)
    assert await store.expire_leases_of("w", 1) == 1
