"""The built-in task `rota.remind` of ordinary workers: send a reminder to its URLs.

A device runs its reminders itself (chime, notification, speech); an ordinary worker gets
only the notify job of a reminder (no target, default queue) and sends its text to every
notification URL with Apprise.
"""

from __future__ import annotations

from typing import Any

from rota.clock import SYSTEM_CLOCK
from rota.context import job_or_none
from rota.reminders.model import ReminderError, ReminderSpec, Rung
from rota.reminders.notify import send


def remind(**kwargs: Any) -> dict[str, Any]:
    """Send the reminder's text to each of its notification URLs; return its Rung result
    (device None, via ["notify:<scheme>", ...]).

    Raises ReminderError for kwargs that are not a reminder or name no URL (this worker
    has no chime), NotifyFailed when a URL cannot be sent to: the job is retried.
    """
    spec = ReminderSpec.parse(kwargs)
    if not spec.notify:
        raise ReminderError(
            "this reminder names no notification URL, and an ordinary worker has no chime: "
            "send it to a device (target device:<name>) or give notify URLs"
        )
    via = send(spec.text, spec.notify)
    rung_at = SYSTEM_CLOCK.now_utc()
    context = job_or_none()
    due_at = context.run_at if context is not None and context.run_at is not None else rung_at
    return Rung.at(due_at, rung_at, None, via).model_dump(mode="json")
