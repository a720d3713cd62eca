"""A device for the dashboard's tests, driven by the test: it speaks the worker protocol (as
tests.server.fakes.FakeWorker), holds the reminders it is handed, rings one when told to
(reporting the Rung result a device reports), drops one that is cancelled, and sends
heartbeats with a clock set ahead of the real one, so its clock offset is known."""

from __future__ import annotations

import asyncio
import contextlib
import threading
import time
from datetime import datetime, timedelta
from typing import Any

from rota.reminders.model import Rung
from tests.server.fakes import FakeWorker, result_message

HEARTBEAT_S = 1.0


class FakeDevice:
    """A device named `name` on the server at `url`, run on a thread of its own."""

    def __init__(self, url: str, name: str, *, clock_ahead_s: float = 0.0) -> None:
        self.name = name
        self.clock_ahead_s = clock_ahead_s
        self.held: dict[str, dict[str, Any]] = {}
        self._lock = threading.Lock()
        self._worker = FakeWorker(
            url.replace("http://", "ws://"),
            name=name,
            tags=["device", f"device:{name}"],
            queues=["reminders"],
            tasks=["rota.remind"],
            capacity=100,
        )
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._tasks: list[asyncio.Task[None]] = []

    def start(self) -> None:
        """Connect and start reading and beating; return once welcomed."""
        self._thread.start()
        self._call(self._start())

    def ring(self, job_id: str, due_at: str, late_s: float) -> None:
        """Report the held reminder as rung `late_s` seconds after `due_at`."""
        with self._lock:
            order = self.held.pop(job_id)
        due = datetime.fromisoformat(due_at)
        rung = Rung.at(due, due + timedelta(seconds=late_s), self.name, ("wav:/tmp/chime.wav",))
        self._call(self._worker.send(result_message(order, rung.model_dump(mode="json"))))

    def holds(self, job_id: str) -> bool:
        """Tell whether the device holds the reminder."""
        with self._lock:
            return job_id in self.held

    def stop(self) -> None:
        """Close the connection and end the thread."""
        with contextlib.suppress(Exception):
            self._call(self._stop())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    def _call(self, coroutine: Any) -> Any:
        return asyncio.run_coroutine_threadsafe(coroutine, self._loop).result(20)

    async def _start(self) -> None:
        await self._worker.connect()
        self._tasks = [asyncio.create_task(self._read()), asyncio.create_task(self._beat())]

    async def _stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await self._worker.close()

    async def _read(self) -> None:
        while True:
            message = await self._worker.receive(timeout_s=3600)
            if message["type"] == "jobs":
                with self._lock:
                    self.held.update({order["job_id"]: order for order in message["jobs"]})
            elif message["type"] == "cancel":
                with self._lock:
                    order = self.held.pop(message["job_id"], None)
                if order is not None:
                    await self._worker.send(
                        {"type": "release", "job_id": order["job_id"], "token": order["token"]}
                    )

    async def _beat(self) -> None:
        while True:
            with self._lock:
                running = [{"job_id": o["job_id"], "token": o["token"]} for o in self.held.values()]
            await self._worker.send(
                {
                    "type": "heartbeat",
                    "running": running,
                    "state": "online",
                    "resources": {"host": f"{self.name}.local"},
                    "sent_at": time.time() + self.clock_ahead_s,
                }
            )
            await asyncio.sleep(HEARTBEAT_S)
