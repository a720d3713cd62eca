"""The attempts a worker's slots hold. A slot is free only when the code in it has stopped.

Most slots hold an attempt whose lease the worker holds (listed in every heartbeat, even
while its code is being stopped). A few may hold code whose lease was lost (reaped while
the worker was away, or handed on by the server) and that has not stopped yet: those are
counted as `unleased`, so the server does not fill their slots, and a later attempt of the
same job waits for them before its code starts.
"""

from __future__ import annotations

import asyncio
from dataclasses import dataclass, field
from typing import Literal

from rota.context import JobContext
from rota.jobs import Lease
from rota.protocol import JobOrder
from rota.worker.executor import Attempt
from rota.worker.outbox import LogBuffer

Then = Literal["report", "release", "nothing"]
"""What to tell the server once the code stopped: the outcome, a release, or nothing."""


@dataclass(kw_only=True, slots=True, eq=False)
class Slot:
    """One attempt in one slot, from hand-over until its code has stopped."""

    order: JobOrder
    context: JobContext
    attempt: Attempt
    earlier: list[Slot] = field(default_factory=list)
    """Attempts of the same job whose code still runs here: this one starts after them."""
    then: Then = "report"
    held: bool = False
    """Handed over ahead of its run_at and waiting for it: its code has not started."""
    stopping_message: str | None = None
    """What the worker last told the server about stopping this attempt's code."""
    task: asyncio.Task[None] | None = None
    logs: LogBuffer = field(default_factory=LogBuffer)
    progress: tuple[float | None, str | None] | None = None
    """The latest progress the task reported that is not sent yet: reports are sent with the
    log lines, so a task reporting in a tight loop sends one per batch, the latest winning."""
    stopped: asyncio.Event = field(default_factory=asyncio.Event)
    """Set once the attempt's code has stopped (or never started)."""
    received_at: float = 0.0
    """When the hand-over arrived, on the worker's monotonic clock (worker/contact.py)."""


class Slots:
    """The worker's slots: attempts with a lease by job id, and code whose lease was lost."""

    def __init__(self) -> None:
        self._leased: dict[str, Slot] = {}
        self._unleased: list[Slot] = []

    @property
    def busy(self) -> int:
        """Return how many slots hold code that has not stopped."""
        return len(self._leased) + len(self._unleased)

    @property
    def unleased(self) -> int:
        """Return how many slots hold code still stopping whose lease was lost."""
        return len(self._unleased)

    def job_ids(self) -> list[str]:
        """Return the ids of the jobs whose lease is held here, in hand-over order."""
        return list(self._leased)

    def leased(self) -> list[Slot]:
        """Return the slots whose lease is held, in hand-over order."""
        return list(self._leased.values())

    def every(self) -> list[Slot]:
        """Return every slot whose code has not stopped."""
        return [*self._leased.values(), *self._unleased]

    def get(self, job_id: str) -> Slot | None:
        """Return the slot holding the job's lease, if any."""
        return self._leased.get(job_id)

    def current(self, job_id: str, token: str) -> Slot | None:
        """Return the slot holding that lease of the job, if it still holds it."""
        slot = self._leased.get(job_id)
        return slot if slot is not None and slot.order.token == token else None

    def leases(self) -> tuple[Lease, ...]:
        """Return every lease held (running or stopping attempts), in hand-over order."""
        return tuple(slot.order.lease for slot in self._leased.values())

    def earlier(self, job_id: str) -> list[Slot]:
        """Return the slots of the job whose lease was lost and whose code still runs."""
        return [slot for slot in self._unleased if slot.order.job_id == job_id]

    def add(self, slot: Slot) -> None:
        """Hold a new attempt's lease."""
        self._leased[slot.order.job_id] = slot

    def lose(self, slot: Slot) -> None:
        """Count the slot as unleased: its lease is gone, its code is still to stop."""
        if self._leased.get(slot.order.job_id) is slot:
            del self._leased[slot.order.job_id]
            self._unleased.append(slot)

    def free(self, slot: Slot) -> bool:
        """Free the slot (its code stopped); return True if it was unleased."""
        if self._leased.get(slot.order.job_id) is slot:
            del self._leased[slot.order.job_id]
            return False
        if slot in self._unleased:
            self._unleased.remove(slot)
            return True
        return False
