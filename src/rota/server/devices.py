"""What the server can tell about devices: which are online, which reminders each holds or
waits for, and how far its clock is from the server's.

A device is a worker carrying the tag `device` (rota.reminders.model.DEVICE_TAG). A reminder
it *holds* is a running `rota.remind` job leased to it: handed over ahead of its due moment
and kept in the device's local file until it rings. A reminder it *waits for* is a pending
one whose target is `device:<name>`, not handed over yet (its due moment lies beyond the
device's horizon, or the device is offline).
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime

from rota.errors import WorkerNotFound
from rota.jobs import Job, JobState
from rota.protocol.messages import CLOCK_OFFSET
from rota.reminders.model import DEVICE_TAG, REMIND_TASK, device_tag
from rota.safe_text import excerpt
from rota.store.base import JobQuery, Store, WorkerInfo
from rota.store.explore import JobSort

PAGE = 500
MAX_SCANNED = 10_000
"""Reminders read per state at most for one answer; beyond that the counts stop growing."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Upcoming:
    """A reminder that has not rung yet: its job, when it is due, its text, and whether the
    device holds it already."""

    job_id: str
    due_at: datetime
    text: str
    held: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class DeviceStatus:
    """One device as the server sees it.

    `clock_offset_s` is the device's clock minus the server's, in seconds, from its last
    heartbeat (None before its first or when its worker does not send its clock); it
    includes the heartbeat's transit time, so a device behind a slow link reads a little
    behind.
    """

    worker: WorkerInfo
    held: int
    waiting: int
    next: Upcoming | None
    clock_offset_s: float | None

    @property
    def online(self) -> bool:
        """Tell whether the device is connected (online or draining)."""
        return self.worker.state != "offline"


def is_device(worker: WorkerInfo) -> bool:
    """Tell whether a worker is a device (it carries the tag `device`)."""
    return DEVICE_TAG in worker.tags


def device_name(target: str | None) -> str | None:
    """Return the device a job's target names (`device:<name>`), or None."""
    prefix = device_tag("")
    if target is None or not target.startswith(prefix):
        return None
    return target.removeprefix(prefix) or None


async def reminders_in(store: Store, state: JobState, *, worker: str | None = None) -> list[Job]:
    """Return the `rota.remind` jobs in `state` (of one worker when named), earliest due
    first; at most MAX_SCANNED."""
    found: list[Job] = []
    cursor = None
    while len(found) < MAX_SCANNED:
        page = await store.list_jobs(
            JobQuery(
                state=state,
                task=REMIND_TASK,
                worker=worker,
                sort=JobSort.RUN_AT,
                descending=False,
                limit=PAGE,
                cursor=cursor,
            )
        )
        found += [job for job in page.jobs if job.task == REMIND_TASK]  # the filter is a prefix
        if page.next_cursor is None:
            break
        cursor = page.next_cursor
    return found


async def device_statuses(store: Store, name: str | None = None) -> list[DeviceStatus]:
    """Return every device (online first, then by name), or the one named.

    Raises WorkerNotFound when `name` is given and no device of that name is registered.
    """
    devices = [w for w in await store.list_workers() if is_device(w) and name in (None, w.name)]
    if name is not None and not devices:
        raise WorkerNotFound(f"no device named {excerpt(name)} is registered")
    held = _grouped(await reminders_in(store, JobState.RUNNING, worker=name), by_target=False)
    waiting = _grouped(await reminders_in(store, JobState.PENDING), by_target=True)
    return [
        DeviceStatus(
            worker=device,
            held=len(held[device.name]),
            waiting=len(waiting[device.name]),
            next=_first(
                [_upcoming(job, held=True) for job in held[device.name][:1]]
                + [_upcoming(job, held=False) for job in waiting[device.name][:1]]
            ),
            clock_offset_s=_offset(device),
        )
        for device in devices
    ]


def _grouped(jobs: Iterable[Job], *, by_target: bool) -> defaultdict[str, list[Job]]:
    groups: defaultdict[str, list[Job]] = defaultdict(list)
    for job in jobs:
        owner = device_name(job.target) if by_target else job.worker
        if owner is not None:
            groups[owner].append(job)
    return groups


def _upcoming(job: Job, *, held: bool) -> Upcoming:
    text = job.kwargs.get("text")
    return Upcoming(
        job_id=job.id, due_at=job.run_at, text=text if isinstance(text, str) else "", held=held
    )


def _first(candidates: list[Upcoming]) -> Upcoming | None:
    return min(candidates, key=lambda item: item.due_at, default=None)


def _offset(worker: WorkerInfo) -> float | None:
    value = worker.resources.get(CLOCK_OFFSET)
    if isinstance(value, int | float) and not isinstance(value, bool):
        return float(value)
    return None
