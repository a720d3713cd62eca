"""What a worker's slots hold, as its hello and heartbeats tell: the leases it names are
extended and counted, stale ones are named back, and jobs cancelled while it ran them
(through any server) are to be stopped (the gateway tells the worker)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from rota.jobs import JobState, Lease
from rota.server.dispatcher import RunningJob, WorkerSession
from rota.store.base import Store
from rota.types import JobId


@dataclass(frozen=True, kw_only=True, slots=True)
class Renewal:
    """The outcome of a worker's report of what it runs."""

    stale: list[JobId]
    """Named leases that are gone (reaped, or the job moved on): the worker drops them."""
    to_stop: list[JobId]
    """Jobs cancelled while the worker ran them, that it was not told of yet."""
    freed: bool
    """Whether slots this server counted as taken are free now."""


async def renew(
    store: Store,
    session: WorkerSession,
    leases: Sequence[Lease],
    *,
    unleased: int,
    lease_s: float,
) -> Renewal:
    """Extend the leases the worker names and count them against its slots, with the slots
    it says code still takes after losing its lease (`unleased`)."""
    tokens = [lease.token for lease in leases]
    states = await store.extend(session.name, tokens, lease_s) if tokens else {}
    freed = unleased < session.unleased
    session.unleased = unleased
    stale: list[JobId] = []
    for lease in leases:
        job_id, token = lease.job_id, lease.token
        if token in states:
            session.running.setdefault(job_id, RunningJob(token=token, attempt=None))
            continue
        held = session.running.get(job_id)
        if held is not None and held.token != token:
            # The worker was handed a later attempt (a device's edited reminder): it drops
            # the old one itself, and `leases` names jobs, so naming this one would stop both.
            continue
        stale.append(job_id)
        if held is not None:
            session.forget(job_id)
            freed = True
    to_stop: list[JobId] = []
    for job_id, held in session.running.items():
        if states.get(held.token) is JobState.CANCELLED and not held.cancel_sent:
            held.cancel_sent = True
            to_stop.append(job_id)
    return Renewal(stale=stale, to_stop=to_stop, freed=freed)
