"""Bodies of the devices and reminder-action routes: pydantic models, so /openapi.json
states what they take and answer."""

from __future__ import annotations

from pydantic import BaseModel, ConfigDict, Field

from rota.server.api.models import JobOut, Out
from rota.server.devices import DeviceStatus, Upcoming
from rota.store.base import WorkerState

MAX_SNOOZE_MINUTES = 7 * 24 * 60


class NextReminderOut(Out):
    """The earliest reminder a device holds or waits for."""

    job_id: str
    due_at: str = Field(description="when it is due (ISO 8601, UTC)")
    text: str
    held: bool = Field(description="whether the device holds it already (handed over)")

    @classmethod
    def of(cls, upcoming: Upcoming) -> NextReminderOut:
        """Return the body of an upcoming reminder."""
        return cls(
            job_id=upcoming.job_id,
            due_at=upcoming.due_at.isoformat(),
            text=upcoming.text,
            held=upcoming.held,
        )


class DeviceOut(Out):
    """A device: a worker with the tag `device`, and the reminders it holds."""

    name: str
    online: bool = Field(description="connected to a server (online or draining)")
    state: WorkerState = Field(description="online, draining or offline")
    tags: list[str]
    server: str | None = Field(description="the server it is connected to")
    connected_at: str | None
    last_seen_at: str | None = Field(description="its last heartbeat or hello")
    held: int = Field(description="reminders handed over to it that have not rung yet")
    waiting: int = Field(
        description="pending reminders for it not handed over yet (beyond its horizon, or "
        "it is offline)"
    )
    next: NextReminderOut | None = Field(description="the earliest of those, held or waiting")
    clock_offset_s: float | None = Field(
        description="its clock minus the server's, from its last heartbeat (includes the "
        "heartbeat's transit time); None until it sent its clock"
    )

    @classmethod
    def of(cls, status: DeviceStatus) -> DeviceOut:
        """Return the body of a device's status."""
        worker = status.worker
        return cls(
            name=worker.name,
            online=status.online,
            state=worker.state,
            tags=worker.tags,
            server=worker.server,
            connected_at=worker.connected_at.isoformat() if worker.connected_at else None,
            last_seen_at=worker.last_seen_at.isoformat() if worker.last_seen_at else None,
            held=status.held,
            waiting=status.waiting,
            next=None if status.next is None else NextReminderOut.of(status.next),
            clock_offset_s=status.clock_offset_s,
        )


class DevicesOut(Out):
    devices: list[DeviceOut] = Field(description="online first, then by name")


class SnoozeBody(BaseModel):
    """How long to snooze a reminder."""

    model_config = ConfigDict(extra="forbid", strict=True, title="SnoozeBody")

    minutes: float = Field(
        gt=0,
        le=MAX_SNOOZE_MINUTES,
        description="after the later of now and the reminder's due moment",
    )


class SnoozeOut(Out):
    """The reminder a snooze made, and what became of the one snoozed."""

    snoozed: JobOut = Field(description="the reminder snoozed, as it is now")
    reminder: JobOut = Field(
        description="the new reminder, due minutes after the later of now and the snoozed "
        "one's due moment"
    )
    created: bool = Field(
        description="false when the reminder had been snoozed before: `reminder` is the one "
        "that snooze made"
    )
