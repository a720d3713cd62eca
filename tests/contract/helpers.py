"""Small helpers shared by the store contract tests."""

from __future__ import annotations

from typing import Any

from rota.jobs import Job, JobSpec, Lease
from rota.store import AcquireRequest, Store

TASK = "tests.work"


def spec(**fields: Any) -> JobSpec:
    """Return a JobSpec for the test task, with the given fields."""
    fields.setdefault("task", TASK)
    return JobSpec(**fields)


async def submit_one(store: Store, **fields: Any) -> Job:
    """Submit one job and return it."""
    [job] = await store.submit([spec(**fields)])
    return job


async def claim(
    store: Store,
    worker: str = "w1",
    *,
    queues: tuple[str, ...] = ("default",),
    limit: int = 1,
    lease_s: float = 30.0,
    **fields: Any,
) -> list[Job]:
    """Acquire up to `limit` jobs for a worker."""
    request = AcquireRequest(worker=worker, queues=queues, limit=limit, lease_s=lease_s, **fields)
    return await store.acquire(request)


async def claim_one(store: Store, worker: str = "w1", **fields: Any) -> Job:
    """Acquire exactly one job for a worker."""
    [job] = await claim(store, worker, **fields)
    return job


def lease_of(job: Job) -> Lease:
    """Return the lease a claimed job carries."""
    assert job.lease_token is not None
    return Lease(job_id=job.id, token=job.lease_token)
