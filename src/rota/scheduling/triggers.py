"""Triggers: when a schedule fires next. Pure: every answer is a function of the moment given.

Jitter, misfire and overlap policies are the scheduler's business, not a trigger's.
"""

from __future__ import annotations

from dataclasses import KW_ONLY, dataclass
from datetime import UTC, datetime, timedelta
from typing import Final, Protocol
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from rota.errors import InvalidInput
from rota.moments import LATEST_AT
from rota.safe_text import excerpt
from rota.scheduling.cron import CronExpression, next_fire_at

__all__ = [
    "MAX_TIMEZONE_CHARS",
    "CronTrigger",
    "IntervalTrigger",
    "OnceTrigger",
    "Trigger",
    "parse_timezone",
]

MAX_TIMEZONE_CHARS: Final = 100
"""Longer than any IANA zone name (the longest are about 30 characters)."""
_EPOCH_UTC: Final = datetime(1970, 1, 1, tzinfo=UTC)
_ONE_MICROSECOND: Final = timedelta(microseconds=1)


class Trigger(Protocol):
    """Something that says when a schedule fires next."""

    def next_after(self, after: datetime) -> datetime | None:
        """Return the first fire time strictly after `after` (aware), in UTC, or None if
        the trigger never fires again."""
        ...


def parse_timezone(name: str) -> ZoneInfo:
    """Return the IANA time zone of that name (such as "Europe/Berlin" or "UTC").

    Raises InvalidInput "unknown time zone 'X'" for anything else.
    """
    if not isinstance(name, str) or not name or len(name) > MAX_TIMEZONE_CHARS:
        raise InvalidInput(f"unknown time zone {excerpt(name)}")
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        # ValueError: not a normalised relative key ("../x", "/etc/x") or not a zone file;
        # OSError: a directory of zones such as "Europe".
        raise InvalidInput(f"unknown time zone {excerpt(name)}") from None


def _to_utc(moment: datetime, what: str) -> datetime:
    """Return the moment in UTC; raise InvalidInput when it is naive."""
    if not isinstance(moment, datetime) or moment.utcoffset() is None:
        raise InvalidInput(f"{what} must be an aware datetime (with a time zone)")
    return moment.astimezone(UTC)


def _optional_utc(moment: datetime | None, what: str) -> datetime | None:
    return None if moment is None else _to_utc(moment, what)


def _check_window(start_at: datetime | None, end_at: datetime | None) -> None:
    if start_at is not None and end_at is not None and end_at < start_at:
        raise InvalidInput("end_at: must not be before start_at")


@dataclass(frozen=True, slots=True)
class CronTrigger:
    """Fires at the times a cron expression names, read in a time zone.

    Fire times are never before `start_at` and never after `end_at` (both inclusive), nor
    after the end of the range of times Rota accepts (rota.moments.LATEST_AT).
    """

    expr: CronExpression
    tz: ZoneInfo
    _: KW_ONLY
    start_at: datetime | None = None
    end_at: datetime | None = None

    def __post_init__(self) -> None:
        # Normalising to UTC keeps equal triggers equal whatever zone their bounds came in.
        object.__setattr__(self, "start_at", _optional_utc(self.start_at, "start_at"))
        object.__setattr__(self, "end_at", _optional_utc(self.end_at, "end_at"))
        _check_window(self.start_at, self.end_at)

    def next_after(self, after: datetime) -> datetime | None:
        """Return the first fire time strictly after `after` within the window, or None."""
        moment = _to_utc(after, "after")
        if self.start_at is not None and moment < self.start_at:
            # Strictly after a moment just before start_at: start_at itself may fire.
            moment = self.start_at - _ONE_MICROSECOND
        if moment >= self._last_at:
            return None
        fire_at = next_fire_at(self.expr, moment, self.tz)
        return None if fire_at > self._last_at else fire_at

    @property
    def _last_at(self) -> datetime:
        return LATEST_AT if self.end_at is None else min(self.end_at, LATEST_AT)


@dataclass(frozen=True, slots=True)
class IntervalTrigger:
    """Fires every `interval_s` seconds of real elapsed time, whatever the clocks say.

    Fire times are `start_at + k * interval_s` for k = 0, 1, 2, ...; without `start_at`
    they are anchored at the Unix epoch (so every server computes the same grid). None
    after `end_at` (inclusive), or after rota.moments.LATEST_AT. The interval is kept to
    the microsecond.
    """

    interval_s: float
    _: KW_ONLY
    start_at: datetime | None = None
    end_at: datetime | None = None

    def __post_init__(self) -> None:
        if (
            isinstance(self.interval_s, bool)
            or not isinstance(self.interval_s, int | float)
            or not self.interval_s > 0
            or self.interval_s == float("inf")
        ):
            raise InvalidInput(f"interval_s: must be a positive number, got {self.interval_s!r}")
        if self._interval_us < 1:
            raise InvalidInput("interval_s: must be at least one microsecond")
        object.__setattr__(self, "start_at", _optional_utc(self.start_at, "start_at"))
        object.__setattr__(self, "end_at", _optional_utc(self.end_at, "end_at"))
        _check_window(self.start_at, self.end_at)

    @property
    def _interval_us(self) -> int:
        return round(self.interval_s * 1_000_000)

    def next_after(self, after: datetime) -> datetime | None:
        """Return the first grid point strictly after `after` within the window, or None."""
        moment = _to_utc(after, "after")
        last_at = LATEST_AT if self.end_at is None else min(self.end_at, LATEST_AT)
        if moment >= last_at:
            return None
        anchor = self.start_at if self.start_at is not None else _EPOCH_UTC
        if self.start_at is not None and moment < self.start_at:
            fire_at = self.start_at
        else:
            # Floor division keeps the epoch grid right before 1970 too.
            elapsed_us = (moment - anchor) // _ONE_MICROSECOND
            steps = elapsed_us // self._interval_us + 1
            fire_at = anchor + timedelta(microseconds=steps * self._interval_us)
        return None if fire_at > last_at else fire_at


@dataclass(frozen=True, slots=True)
class OnceTrigger:
    """Fires once, at `at`."""

    at: datetime

    def __post_init__(self) -> None:
        object.__setattr__(self, "at", _to_utc(self.at, "at"))

    def next_after(self, after: datetime) -> datetime | None:
        """Return `at` if it is strictly after `after`, else None."""
        moment = _to_utc(after, "after")
        return self.at if self.at > moment else None
