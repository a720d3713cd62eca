"""Renewing a worker's leases: a stale token of a job the worker holds a later attempt of is
not named back (a `leases` message names jobs, and would stop the later attempt too)."""

from __future__ import annotations

from datetime import timedelta

from rota.jobs import JobSpec, Lease
from rota.server.dispatcher import RunningJob, WorkerSession
from rota.server.leases import renew
from rota.store.base import AcquireRequest, JobChanges, Store


async def _nothing(*args: object) -> None:
    return None


def _device() -> WorkerSession:
    return WorkerSession(
        name="laptop",
        queues=["reminders"],
        tags=["device", "device:laptop"],
        tasks=None,
        capacity=10,
        send_frame=_nothing,
        close_socket=_nothing,
        horizon_s=600.0,
    )


async def test_an_old_token_is_not_named_while_a_later_attempt_is_held(store: Store) -> None:
    run_at = await store.now() + timedelta(seconds=300)
    spec = JobSpec(task="rota.remind", queue="reminders", target="device:laptop", run_at=run_at)
    [job] = await store.submit([spec])
    request = AcquireRequest(
        worker="laptop", queues=["reminders"], tags=["device:laptop"], horizon_s=600.0
    )
    [old] = await store.acquire(request)
    await store.update(job.id, JobChanges(run_at=run_at + timedelta(seconds=60)))
    [new] = await store.acquire(request)
    assert old.lease_token and new.lease_token and old.lease_token != new.lease_token
    session = _device()
    session.running[job.id] = RunningJob(token=new.lease_token, attempt=new.attempt)
    renewal = await renew(
        store, session, [Lease(job_id=job.id, token=old.lease_token)], unleased=0, lease_s=30
    )
    assert renewal.stale == [] and job.id in session.running
    renewal = await renew(
        store, _device(), [Lease(job_id=job.id, token=old.lease_token)], unleased=0, lease_s=30
    )
    assert renewal.stale == [job.id]
