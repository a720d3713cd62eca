"""The change feed across servers: what one store on a schema changes reaches the others."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest

from rota.jobs import JobSpec, JobState
from rota.store import AcquireRequest
from rota.store.feed import Change, DrainRequest, JobChange, Refresh
from rota.store.postgres import PostgresStore
from rota.store.postgres_feed import MAX_PAYLOAD_BYTES, SUMMED_UP_AFTER, decode, encode
from tests.contract.postgres import stores_on_one_schema

pytestmark = pytest.mark.postgres

OpenStore = Callable[[], Awaitable[PostgresStore]]


@pytest.fixture
async def open_store() -> AsyncIterator[OpenStore]:
    """Open stores on one schema, as several servers would; all closed at the end."""
    async with stores_on_one_schema() as open_one:
        yield open_one


class Inbox:
    """A subscriber that queues what it hears, to wait on."""

    def __init__(self, store: PostgresStore) -> None:
        self.queue: asyncio.Queue[Change] = asyncio.Queue()
        store.feed.subscribe(self)

    def __call__(self, changes: Sequence[Change]) -> None:
        for change in changes:
            self.queue.put_nowait(change)

    async def next_job(self, **expected: Any) -> JobChange:
        """Return the next job change that has the expected fields (others are skipped)."""
        async with asyncio.timeout(10):
            while True:
                change = await self.queue.get()
                if isinstance(change, JobChange) and all(
                    getattr(change, name) == value for name, value in expected.items()
                ):
                    return change


async def test_a_cancel_through_one_store_reaches_another(open_store: OpenStore) -> None:
    here, there = await open_store(), await open_store()
    inbox = Inbox(there)
    [job] = await here.submit([JobSpec(task="t")])
    [claimed] = await there.acquire(AcquireRequest(worker="w1", queues=["default"]))
    await here.cancel(job.id)
    change = await inbox.next_job(job_id=job.id, state=JobState.CANCELLED)
    assert (change.worker, change.attempt, change.leased, change.stopping) == ("w1", 1, True, True)
    assert change.lease_token is None, "a token never travels"
    assert claimed.lease_token is not None


async def test_a_store_hears_its_own_changes_once(open_store: OpenStore) -> None:
    here = await open_store()
    await open_store()  # another server on the schema
    inbox = Inbox(here)
    [job] = await here.submit([JobSpec(task="t")])
    await here.cancel(job.id)
    await inbox.next_job(state=JobState.CANCELLED)
    await asyncio.sleep(0.3)  # time for its own NOTIFY to come back, were it not skipped
    assert inbox.queue.empty()


async def test_a_drain_request_travels(open_store: OpenStore) -> None:
    here, there = await open_store(), await open_store()
    inbox = Inbox(there)
    here.feed.publish([DrainRequest(worker="w9")])
    async with asyncio.timeout(10):
        assert await inbox.queue.get() == DrainRequest(worker="w9")


def test_many_view_only_changes_are_summed_up_and_payloads_stay_small() -> None:
    from datetime import UTC, datetime

    def change(number: int, state: JobState, worker: str | None = None) -> JobChange:
        return JobChange(
            job_id=f"{number:040d}",
            state=state,
            queue="default",
            task="t" * 200,
            worker=worker,
            attempt=1 if worker else 0,
            leased=state is JobState.RUNNING,
            stopping=False,
            progress=None,
            updated_at=datetime.now(UTC),
        )

    submitted = [change(n, JobState.PENDING) for n in range(SUMMED_UP_AFTER + 1)]
    finished = [change(n, JobState.SUCCEEDED, "w1") for n in range(200)]
    payloads = encode("me", [*submitted, *finished])
    assert all(len(payload.encode()) < MAX_PAYLOAD_BYTES for payload in payloads)
    heard = [c for payload in payloads for c in decode(payload)[1]]
    assert heard.count(Refresh()) == 1
    assert [c.job_id for c in heard if isinstance(c, JobChange)] == [c.job_id for c in finished]
    few = encode("me", submitted[:3])
    assert [c for p in few for c in decode(p)[1]] == submitted[:3]
