"""What a reminder is: the one definition of its arguments, its target and its result.

A reminder is a job whose task is `rota.remind`, whose `run_at` is the moment it is due and
whose kwargs are a `ReminderSpec`. It goes to one device (target `device:<name>`), to any
online device (target tag `device`), or, with only notification URLs, to any ordinary worker.
Every way in (CLI, Python, REST, calendar import) and the device itself validate the kwargs
with `ReminderSpec`, so a value accepted anywhere is accepted everywhere.
"""

from __future__ import annotations

import re
from datetime import datetime
from typing import Any, Final

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rota.errors import RotaError
from rota.values import text_problem

REMIND_TASK: Final = "rota.remind"
REMINDER_QUEUE: Final = "reminders"
"""Queue of reminders meant for devices; a notify-only reminder uses the default queue."""
DEVICE_TAG: Final = "device"
"""Every device carries this tag: the target of a reminder for any online device."""
DEFAULT_HORIZON_S: Final = 600.0
"""How long before its due moment a device is handed a reminder, by default (10 minutes)."""
LATE_AFTER_S: Final = 1.0
"""A reminder that rang more than this after its due moment is marked late."""
MAX_TEXT_CHARS: Final = 1000
MAX_NOTIFY_URLS: Final = 20


_CONTROL: Final = re.compile(r"[\x00-\x08\x0b-\x1f\x7f]")
"""Control characters but tab and newline: a NUL cannot be passed to notify-send or
espeak-ng (nor stored by PostgreSQL), and the others garble the device's log and terminal."""


def _check_plain(value: str) -> None:
    """Raise ValueError if the text holds a lone surrogate or a control character."""
    problem = text_problem(value)
    if problem is not None:
        raise ValueError(problem)
    found = _CONTROL.search(value)
    if found is not None:
        raise ValueError(
            f"text contains the control character {found.group()!r} at index {found.start()}"
        )


def plain_text(text: str) -> str:
    """Return text with each control character (but tab and newline) and lone surrogate
    replaced by a space: what a reminder may say, for text read from elsewhere (a
    calendar's summary) rather than typed for a reminder."""
    text = _CONTROL.sub(" ", text)
    return text.encode("utf-8", "surrogatepass").decode("utf-8", "replace").replace("\ufffd", " ")


class ReminderError(RotaError):
    """A reminder's arguments or target are not valid; the message says which and why."""


def device_tag(name: str) -> str:
    """Return the target that sends a reminder to the device named `name`."""
    return f"{DEVICE_TAG}:{name}"


class ReminderSpec(BaseModel):
    """The kwargs of a `rota.remind` job.

    `text` is what is shown and spoken (1 to 1,000 characters); `notify` lists Apprise URLs
    (https://github.com/caronc/apprise/wiki) that a worker sends the text to; `calendar`,
    `uid` and `recurrence_id` say which calendar event a reminder was imported from, and
    `before_s` how many seconds before that event it sounds.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    text: str = Field(min_length=1, max_length=MAX_TEXT_CHARS)
    notify: tuple[str, ...] = Field(default=(), max_length=MAX_NOTIFY_URLS)
    calendar: str | None = Field(default=None, max_length=200)
    uid: str | None = Field(default=None, max_length=1000)
    recurrence_id: str | None = Field(default=None, max_length=100)
    before_s: float = Field(default=0.0, ge=0, le=366 * 86400)

    @field_validator("text")
    @classmethod
    def _text_has_words(cls, value: str) -> str:
        if not value.strip():
            raise ValueError("must not be blank")
        return value

    @field_validator("text", "calendar", "uid", "recurrence_id")
    @classmethod
    def _plain_text(cls, value: str | None) -> str | None:
        if value is not None:
            _check_plain(value)
        return value

    @field_validator("notify")
    @classmethod
    def _urls_have_schemes(cls, value: tuple[str, ...]) -> tuple[str, ...]:
        for url in value:
            _check_plain(url)
            if "://" not in url or len(url) > 2000:
                raise ValueError(f"{url[:80]!r} is not a notification URL (scheme://…)")
        return value

    @classmethod
    def parse(cls, kwargs: dict[str, Any]) -> ReminderSpec:
        """Return the spec for a job's kwargs; raise ReminderError naming the bad field."""
        try:
            return cls.model_validate(kwargs)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(str(p) for p in error['loc']) or 'kwargs'}: {error['msg']}"
                for error in exc.errors()
            )
            raise ReminderError(f"invalid reminder: {problems}") from None

    def as_kwargs(self) -> dict[str, Any]:
        """Return the job kwargs for this spec, leaving out fields at their defaults."""
        return self.model_dump(mode="json", exclude_defaults=True)


class Rung(BaseModel):
    """The result of a reminder that rang: when it was due, when it rang, where and how.

    `late_s` is seconds after the due moment (0 when on time or early by clock skew);
    `via` lists how it was shown: `chime`, `wav:<path>`, `bell`, `notification`, `speech`,
    `notify:<scheme>`, and `quiet` when it rang silently in the device's quiet hours.
    """

    model_config = ConfigDict(extra="forbid", frozen=True)

    due_at: datetime
    rung_at: datetime
    late_s: float = Field(ge=0)
    late: bool
    device: str | None = None
    via: tuple[str, ...] = ()

    @classmethod
    def at(
        cls, due_at: datetime, rung_at: datetime, device: str | None, via: tuple[str, ...]
    ) -> Rung:
        """Return the result for a reminder due at `due_at` that rang at `rung_at` (aware)."""
        late_s = max(0.0, (rung_at - due_at).total_seconds())
        return cls(
            due_at=due_at,
            rung_at=rung_at,
            late_s=round(late_s, 3),
            late=late_s > LATE_AFTER_S,
            device=device,
            via=via,
        )
