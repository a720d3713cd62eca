"""The client's reminder method (mixed into AsyncClient; Client wraps it as for jobs)."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime, timedelta
from typing import Any

from rota.client_requester import Requester
from rota.client_retry import new_idempotency_key
from rota.errors import InvalidInput
from rota.moments import wire_moment, wire_span
from rota.types import Payload

ReminderData = dict[str, Any]
"""What a reminder request made: {"jobs": [job, ...], "schedules": [schedule, ...]}."""


def reminder_body(
    text: str,
    *,
    at: datetime | str | None = None,
    tz: str | None = None,
    device: str | None = None,
    devices: Sequence[str] | None = None,
    any_device: bool = False,
    repeat: str | None = None,
    every: float | timedelta | None = None,
    deadline: float | timedelta | None = None,
    notify: Sequence[str] = (),
    name: str | None = None,
    idempotency_key: str | None = None,
) -> Payload:
    """Return the ReminderRequest body; options left as None are left out.

    `at` is an aware datetime, or text the server reads ("09:55", "in 10m", ISO 8601);
    `every` and `deadline` are seconds or timedeltas.
    """
    if isinstance(devices, str) or isinstance(notify, str):
        raise InvalidInput("devices and notify are lists, not a single string")
    values: dict[str, Any] = {
        "text": text,
        "at": at if isinstance(at, str) or at is None else wire_moment(at, "at"),
        "tz": tz,
        "device": device,
        "devices": None if devices is None else list(devices),
        "any_device": any_device or None,
        "repeat": repeat,
        "every": wire_span(every, "every", positive=True),
        "deadline": wire_span(deadline, "deadline"),
        "notify": list(notify) or None,
        "name": name,
        "idempotency_key": idempotency_key,
    }
    return {key: value for key, value in values.items() if value is not None}


class ReminderMethods(Requester):
    """Create reminders: jobs of task rota.remind, or their schedules."""

    async def remind(self, text: str, /, **options: Any) -> ReminderData:
        """Create a reminder and return {"jobs": [...], "schedules": [...]}.

        Options are those of `reminder_body`: at=, tz=, device= | devices= | any_device=True,
        repeat= | every=, deadline=, notify=[URL, ...], name=. Say where it rings (a device
        or notify URLs) and when (at=, or repeat=/every=). One-off reminders are jobs (one
        per device, plus one for the URLs); recurring ones are schedules. A request is sent
        with an idempotency key, so a retry after a lost answer creates nothing new.
        """
        options.setdefault("idempotency_key", new_idempotency_key())
        body = reminder_body(text, **options)
        made: ReminderData = await self._request("POST", "/reminders", json=body, repeatable=True)
        return made
