"""The device's runtime: a worker (rota.worker.runtime) that holds reminders and rings them.

A device is a worker named after it, with tags `device` and `device:<name>`, taking queue
`reminders` and only the task `rota.remind`, with room for many held reminders at once. Its
hello carries a horizon, so the server hands it reminders that long before they are due.

Taking a reminder is its receipt: the device writes it to its file (rota.device.holdings)
and sets the alarm (rota.device.alarm), which rings it by this machine's clock whether or
not a server is reachable then. The attempt ends, and the result (rota.reminders.model.Rung)
goes back, once it rang; a result that cannot be sent waits in the worker's outbox. A
reminder the server took back leaves the file: cancelled or released (on drain), once the
server acknowledged the release, or edited or reaped, when the server says its lease is
stale (the server hands it over again if it is still to ring). A reminder handed back is
silenced at once, never to ring here; one whose release no server acknowledged stays in the
file and rings after the next start. One ringing as the device is told to stop finishes,
and its result goes back instead of a release. A re-delivery of an occurrence that rang is answered
from the file, so one occurrence rings once. After a restart the file's reminders ring on
their own, whatever the server.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any, Final

from rota.clock import SYSTEM_CLOCK, Clock
from rota.context import current_job
from rota.device.alarm import Alarm
from rota.device.holdings import Held, Holdings
from rota.device.ring import Ringer
from rota.errors import InvalidInput
from rota.reminders.model import (
    DEVICE_TAG,
    REMIND_TASK,
    REMINDER_QUEUE,
    ReminderSpec,
    Rung,
    device_tag,
)
from rota.settings import Settings
from rota.tasks.registry import TaskDef, TaskRegistry
from rota.types import JSON
from rota.worker.runtime import Worker

CAPACITY: Final = 10_000
"""A held reminder is no work, only a wait: a device may hold this many at once."""
DRAIN_GRACE_S: Final = 2.0
"""On SIGTERM a device gives its held reminders back soon, for other devices to take."""


class Device:
    """Holds reminders from a server and rings each at its due moment, exactly once."""

    def __init__(
        self,
        settings: Settings,
        *,
        holdings: Holdings,
        ringer: Ringer,
        clock: Clock = SYSTEM_CLOCK,
        report: Callable[[str], None],
    ) -> None:
        name = settings.worker.name
        if name is None:
            raise InvalidInput("a device needs a name (--name)")
        self.name = name
        self._holdings = holdings
        self._ringer = ringer
        self._report = report
        self._alarm = Alarm(self._fire, clock=clock)
        self._rung: dict[str, asyncio.Future[Rung]] = {}
        self._writes = asyncio.Lock()
        registry = TaskRegistry()
        registry.add(TaskDef(name=REMIND_TASK, fn=self._remind, queue=REMINDER_QUEUE))
        worker_settings = device_worker_settings(settings, name)
        self.worker = Worker(
            worker_settings,
            registry,
            clock=clock,
            report=report,
            horizon_s=settings.device.horizon_s,
            on_release=self._given_back,
        )

    def request_drain(self) -> None:
        """Give the held reminders back to the server soon, then stop."""
        self.worker.request_drain()

    def request_stop(self) -> None:
        """Stop at once."""
        self.worker.request_stop()

    async def run(self) -> bool:
        """Ring what the file holds, take reminders until drained or stopped; return whether
        everything owed was delivered."""
        await asyncio.to_thread(self._holdings.load)
        await asyncio.to_thread(self._holdings.save)
        held = self._holdings.held()
        if held:
            self._report(f"{len(held)} reminder(s) held from before, the next due {held[0].due_at}")
        for item in held:
            self._alarm.set(item)
        try:
            return await self.worker.run()
        finally:
            self._alarm.close()

    # -- the task ------------------------------------------------------------------------

    async def _remind(self, **kwargs: Any) -> JSON:
        """Hold one reminder until it rang, and return its result."""
        job = current_job()
        spec = ReminderSpec.parse(kwargs)
        if job.run_at is None:
            raise InvalidInput("the server sent a reminder without its due moment")
        item = Held(job_id=job.job_id, due_at=job.run_at, spec=spec)
        done = self._holdings.rung(item.key)
        if done is None:
            waiter = self._waiter(item.key)
            async with self._writes:
                replaced = await asyncio.to_thread(self._holdings.hold, item)
            for old in replaced:
                self._alarm.clear(old.key)
            if self._holdings.rung(item.key) is None:
                self._alarm.set(item)
            done = await self._until_rung(item, waiter)
        return done.model_dump(mode="json")

    async def _until_rung(self, item: Held, waiter: asyncio.Future[Rung]) -> Rung:
        """Wait until the occurrence rang. Asked to stop (handed back as the device leaves,
        cancelled, its lease lost), one still waiting is silenced at once, and stays in the
        file until the server's word drops it (a release the server never heard of rings
        from the file on the next start); one already ringing finishes, and its result goes
        back in place of a release, so it never rings again elsewhere."""
        while True:
            try:
                return await asyncio.shield(waiter)
            except asyncio.CancelledError:
                silenced = self._alarm.clear(item.key)
                if silenced or (item.key not in self._alarm and not waiter.done()):
                    raise

    def _waiter(self, key: str) -> asyncio.Future[Rung]:
        waiter = self._rung.get(key)
        if waiter is None:
            waiter = self._rung[key] = asyncio.get_running_loop().create_future()
        return waiter

    async def _fire(self, item: Held) -> None:
        rung = await self._ringer.ring(item)
        async with self._writes:
            await asyncio.to_thread(self._holdings.mark_rung, item, rung)
        waiter = self._rung.pop(item.key, None)
        if waiter is not None and not waiter.done():
            waiter.set_result(rung)

    def _given_back(self, job_id: str) -> None:
        """The server took the job back (cancelled, drained, edited): not ours to ring."""
        for item in self._holdings.drop(job_id):
            self._alarm.clear(item.key)
            self._rung.pop(item.key, None)
            self._report(f"reminder {job_id} due {item.due_at:%H:%M:%S}Z dropped")


def device_worker_settings(settings: Settings, name: str) -> Settings:
    """Return the settings a device's worker runs with: its name, device tags, the
    reminders queue, room for many held reminders and a short drain."""
    tags = [DEVICE_TAG, device_tag(name)]
    tags += [tag for tag in settings.worker.tags if tag not in tags]
    worker = settings.worker.model_copy(
        update={
            "name": name,
            "tags": tags,
            "queues": [REMINDER_QUEUE],
            "concurrency": CAPACITY,
            "drain_grace_s": min(settings.worker.drain_grace_s, DRAIN_GRACE_S),
        }
    )
    return settings.model_copy(update={"worker": worker})


def default_holdings_path(name: str, environ: Mapping[str, str]) -> Path:
    """Return where a device keeps its file by default: $XDG_STATE_HOME/rota (or
    ~/.local/state/rota) / device-<name>.json."""
    base = environ.get("XDG_STATE_HOME") or str(Path.home() / ".local" / "state")
    return Path(base) / "rota" / f"device-{name}.json"
