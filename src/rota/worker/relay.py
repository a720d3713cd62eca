"""What a running task says, relayed to the server: its progress and its log lines.

Only attempts whose lease this worker holds are heard (a stopping one too, so the lines it
writes while it stops are kept); what an attempt says after losing its lease is dropped.
Log lines are batched for a moment, and kept while the worker is disconnected. Progress
reports are sent with them: of the reports made in one batch only the latest is sent, so a
task reporting in a tight loop cannot queue messages ahead of the heartbeats and its result.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from rota.clock import Clock
from rota.context import JobContext
from rota.protocol import JobOrder, Log, Progress
from rota.values import MAX_LOG_LINE_CHARS, MAX_PROGRESS_CHARS, escape_output
from rota.worker.connection import Link
from rota.worker.slots import Slot, Slots

LOG_BATCH_S = 0.05
MAX_STREAM_CHARS = 20


class Relay:
    """Makes each attempt's JobContext and passes on what the task reports through it."""

    def __init__(self, slots: Slots, clock: Clock, link: Callable[[], Link | None]) -> None:
        """`link` returns the connection to the server, or None while disconnected."""
        self._slots = slots
        self._clock = clock
        self._link = link
        self._log_flush: asyncio.TimerHandle | None = None

    def context_for(self, order: JobOrder, loop: asyncio.AbstractEventLoop) -> JobContext:
        """Return the context a task of this attempt sees as current_job()."""

        def call_in_loop(callback: Callable[..., None], *args: Any) -> None:
            # Tasks call these from threads too; the loop may be gone if a thread outlived it.
            with contextlib.suppress(RuntimeError):
                loop.call_soon_threadsafe(callback, *args)

        # Text that cannot be encoded is escaped, never dropped (rota.values.escape_output).
        def on_progress(fraction: float | None, text: str | None) -> None:
            text = None if text is None else escape_output(text, MAX_PROGRESS_CHARS)
            call_in_loop(self._note_progress, order.job_id, order.token, fraction, text)

        def on_log(text: str, stream: str) -> None:
            at = self._clock.now_utc().timestamp()
            line = escape_output(text, MAX_LOG_LINE_CHARS)
            stream = escape_output(stream, MAX_STREAM_CHARS)
            call_in_loop(self._add_log, order.job_id, order.token, at, stream, line)

        return JobContext(
            job_id=order.job_id,
            task=order.task,
            attempt=order.attempt,
            max_attempts=order.max_attempts,
            on_progress=on_progress,
            on_log=on_log,
            run_at=None if order.run_at is None else datetime.fromtimestamp(order.run_at, UTC),
        )

    def flush(self) -> None:
        """Send the log lines waiting in every held slot."""
        self._log_flush = None
        for slot in self._slots.leased():
            self.send_logs(slot)

    def send_logs(self, slot: Slot) -> None:
        """Send the slot's latest progress and its waiting log lines, if connected (else
        they wait)."""
        link = self._link()
        if link is None:
            return
        job_id, token = slot.order.job_id, slot.order.token
        if slot.progress is not None:
            fraction, text = slot.progress
            slot.progress = None
            link.post(Progress(job_id=job_id, token=token, progress=fraction, message=text))
        while slot.logs:  # in messages that each fit a frame
            link.post(Log(job_id=job_id, token=token, lines=slot.logs.take()))

    def _note_progress(
        self, job_id: str, token: str, fraction: float | None, text: str | None
    ) -> None:
        slot = self._slots.current(job_id, token)
        if slot is None:
            return
        slot.progress = (fraction, text)
        self._flush_soon()

    def _add_log(self, job_id: str, token: str, at: float, stream: str, text: str) -> None:
        slot = self._slots.current(job_id, token)
        if slot is None:
            return
        slot.logs.add(at, stream, text)
        self._flush_soon()

    def _flush_soon(self) -> None:
        if self._log_flush is None:
            loop = asyncio.get_running_loop()
            self._log_flush = loop.call_later(LOG_BATCH_S, self.flush)
