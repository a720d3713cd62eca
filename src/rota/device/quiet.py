"""Quiet hours: a daily span of local wall time in which a device rings silently.

In quiet hours a reminder still rings on time and is reported, but makes no sound: no
chime, no WAV, no speech, only the desktop notification (where there is one) and the log
line, and its result's `via` says `quiet`. A span may cross midnight (22:00-07:00); its
start is inside it and its end is not; a span whose start equals its end is empty.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, time

from rota.errors import InvalidInput

_SPAN = re.compile(r"^\s*(\d{1,2}):(\d{2})\s*-\s*(\d{1,2}):(\d{2})\s*$")


@dataclass(frozen=True, kw_only=True, slots=True)
class QuietHours:
    """From `start` (inclusive) to `end` (exclusive), local wall time, every day."""

    start: time
    end: time

    @classmethod
    def parse(cls, text: str) -> QuietHours:
        """Return the span written as `HH:MM-HH:MM`; raise InvalidInput for anything else."""
        match = _SPAN.fullmatch(text)
        if match is None:
            raise InvalidInput(f"quiet hours {text!r} must look like 22:00-07:00")
        hours_a, minutes_a, hours_b, minutes_b = map(int, match.groups())
        try:
            return cls(start=time(hours_a, minutes_a), end=time(hours_b, minutes_b))
        except ValueError:
            raise InvalidInput(f"quiet hours {text!r}: not a time of day") from None

    def __contains__(self, moment: object) -> bool:
        """Tell whether a moment (a datetime, read in its own zone) lies in the span."""
        if not isinstance(moment, datetime):
            return False
        wall = moment.time().replace(tzinfo=None)
        if self.start <= self.end:
            return self.start <= wall < self.end
        return wall >= self.start or wall < self.end

    def __str__(self) -> str:
        return f"{self.start:%H:%M}-{self.end:%H:%M}"
