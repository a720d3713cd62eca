"""The `jobs` frames that hand jobs to a worker: each job encoded once, packed into frames
that fit the frame limit, and any job that cannot travel set apart with the reason.

A job set apart fails alone (the dispatcher fails it for good); the others still go out.
Values are checked where they enter Rota (rota.values), so only a job stored before those
checks, or a frame limit lowered since, can be set apart.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

from rota import protocol
from rota.errors import InvalidValue, ProtocolError
from rota.jobs import Job
from rota.protocol import JobOrder
from rota.values import check_arguments

CANNOT_SEND = "the job cannot be sent to a worker"


@dataclass(frozen=True, kw_only=True, slots=True)
class Handout:
    """What to send: frames with the jobs each carries, and the jobs that cannot be sent."""

    frames: list[tuple[bytes, list[Job]]] = field(default_factory=list)
    refused: list[tuple[Job, str]] = field(default_factory=list)
    """Each job that cannot be sent, and why, in words for the job's error."""


def job_order(job: Job) -> JobOrder:
    """Return the entry of a `jobs` frame that hands this running job to a worker; raise
    ProtocolError for a job that holds no lease."""
    if job.lease_token is None:
        raise ProtocolError("it holds no lease")
    return JobOrder(
        job_id=job.id,
        token=job.lease_token,
        task=job.task,
        args=job.args,
        kwargs=job.kwargs,
        attempt=job.attempt,
        max_attempts=job.last_attempt,  # the last number `attempt` reaches this round
        timeout_s=job.timeout_s,
        queue=job.queue,
        run_at=job.run_at.timestamp(),
    )


def pack_jobs(
    jobs: Sequence[Job],
    *,
    max_frame_bytes: int = protocol.MAX_FRAME_BYTES,
    sent_at: float | None = None,
) -> Handout:
    """Return the frames that carry these jobs in order, none over `max_frame_bytes`, each
    stamped with `sent_at` (the server's clock, seconds since the epoch) if given."""
    handout = Handout()
    room = max_frame_bytes - protocol.FRAME_OVERHEAD
    items: list[bytes] = []
    carried: list[Job] = []
    size = 0
    for job in jobs:
        try:
            item = protocol.encode_item(job_order(job))
        except ProtocolError as exc:
            handout.refused.append((job, f"{CANNOT_SEND}: {_unsendable(job, exc.message)}"))
            continue
        if len(item) > room:
            reason = f"it takes {len(item):,} bytes, over the frame limit of {room:,}"
            handout.refused.append((job, f"{CANNOT_SEND}: {reason}"))
            continue
        if size + len(item) > room:
            handout.frames.append((protocol.jobs_frame(items, sent_at=sent_at), carried))
            items, carried, size = [], [], 0
        items.append(item)
        carried.append(job)
        size += len(item)
    if items:
        handout.frames.append((protocol.jobs_frame(items, sent_at=sent_at), carried))
    return handout


def _unsendable(job: Job, fallback: str) -> str:
    """Return which of the job's values cannot be encoded, by rota.values' words."""
    try:
        check_arguments(job.args, job.kwargs)
    except InvalidValue as exc:
        return exc.message
    return fallback
