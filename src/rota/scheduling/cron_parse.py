"""Cron expressions: parse the text, and find matching wall-clock times on a plain calendar.

Nothing here knows about time zones: a "wall time" is a naive datetime as a clock on the wall
shows it. `rota.scheduling.cron` turns wall times into instants under the daylight-saving rules.
"""

from __future__ import annotations

import calendar
from bisect import bisect_left
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from types import MappingProxyType
from typing import Final

from rota.errors import InvalidInput
from rota.safe_text import excerpt

ALIASES: Final[Mapping[str, str]] = MappingProxyType(
    {
        "@hourly": "0 * * * *",
        "@daily": "0 0 * * *",
        "@midnight": "0 0 * * *",
        "@weekly": "0 0 * * 0",
        "@monthly": "0 0 1 * *",
        "@yearly": "0 0 1 1 *",
        "@annually": "0 0 1 1 *",
    }
)

MONTH_NAMES: Final[Mapping[str, int]] = MappingProxyType(
    {
        name: number
        for number, name in enumerate(
            ("jan", "feb", "mar", "apr", "may", "jun", "jul", "aug", "sep", "oct", "nov", "dec"),
            start=1,
        )
    }
)
MAX_CRON_CHARS: Final = 1000
"""Longer than any expression that lists every value of every field (about 530 characters)."""
# A number with more digits than this is out of range in every field; int() is never asked
# to read it (Python refuses more than 4300 digits, and reading many is slow).
_MAX_DIGITS: Final = 4

DAY_NAMES: Final[Mapping[str, int]] = MappingProxyType(
    {name: number for number, name in enumerate(("sun", "mon", "tue", "wed", "thu", "fri", "sat"))}
)


@dataclass(frozen=True, slots=True)
class _FieldSpec:
    name: str
    low: int
    high: int
    names: Mapping[str, int]


_NO_NAMES: Final[Mapping[str, int]] = MappingProxyType({})
_SECOND: Final = _FieldSpec("second", 0, 59, _NO_NAMES)
_MINUTE: Final = _FieldSpec("minute", 0, 59, _NO_NAMES)
_HOUR: Final = _FieldSpec("hour", 0, 23, _NO_NAMES)
_DAY_OF_MONTH: Final = _FieldSpec("day-of-month", 1, 31, _NO_NAMES)
_MONTH: Final = _FieldSpec("month", 1, 12, MONTH_NAMES)
# 7 is accepted as a second spelling of Sunday and folded onto 0 after parsing.
_DAY_OF_WEEK: Final = _FieldSpec("day-of-week", 0, 7, DAY_NAMES)

_FIVE_FIELDS: Final = (_MINUTE, _HOUR, _DAY_OF_MONTH, _MONTH, _DAY_OF_WEEK)


@dataclass(frozen=True, kw_only=True, slots=True)
class CronExpression:
    """A parsed cron expression: the allowed values of each field, as sorted tuples.

    Days of the week run 0 (Sunday) to 6 (Saturday). A 5-field expression has
    `seconds == (0,)`.
    """

    text: str
    seconds: tuple[int, ...]
    minutes: tuple[int, ...]
    hours: tuple[int, ...]
    days_of_month: tuple[int, ...]
    months: tuple[int, ...]
    days_of_week: tuple[int, ...]
    # Vixie cron's rule: a day field whose text starts with `*` does not take part in the
    # "either day field may match" rule, even when it is `*/2`.
    day_of_month_star: bool
    day_of_week_star: bool
    # Minute and hour both written without a leading `*`: such a schedule names a time of
    # day, and daylight saving moves it rather than skipping or repeating it.
    is_fixed_time: bool

    @classmethod
    def parse(cls, text: str) -> CronExpression:
        """Parse cron text (5 fields, 6 with seconds first, or an alias such as @daily).

        Raises InvalidInput naming the field and the reason when the text is not valid.
        """
        if not isinstance(text, str):
            raise InvalidInput("cron expression must be a string")
        if len(text) > MAX_CRON_CHARS:
            raise InvalidInput(
                f"cron expression {excerpt(text)} is longer than {MAX_CRON_CHARS} characters"
            )
        stripped = text.strip()
        if not stripped:
            raise InvalidInput("cron expression is empty")
        source = stripped
        if stripped.startswith("@"):
            alias = ALIASES.get(stripped.lower())
            if alias is None:
                known = ", ".join(ALIASES)
                raise InvalidInput(f"unknown cron alias {excerpt(stripped)} (known: {known})")
            source = alias
        parts = source.split()
        if len(parts) not in (5, 6):
            raise InvalidInput(
                f"cron expression must have 5 fields (minute hour day-of-month month "
                f"day-of-week) or 6 with seconds first, got {len(parts)} in {excerpt(stripped)}"
            )
        specs = _FIVE_FIELDS if len(parts) == 5 else (_SECOND, *_FIVE_FIELDS)
        values = [
            _parse_field(part, spec, position)
            for position, (part, spec) in enumerate(zip(parts, specs, strict=True), start=1)
        ]
        if len(parts) == 5:
            values.insert(0, (0,))
        fields = parts[-5:]
        return cls(
            text=stripped,
            seconds=values[0],
            minutes=values[1],
            hours=values[2],
            days_of_month=values[3],
            months=values[4],
            days_of_week=tuple(sorted({day % 7 for day in values[5]})),
            day_of_month_star=fields[2].startswith("*"),
            day_of_week_star=fields[4].startswith("*"),
            is_fixed_time=not fields[0].startswith("*") and not fields[1].startswith("*"),
        )

    def __str__(self) -> str:
        return self.text

    def matches_day(self, day: date) -> bool:
        """Return whether the calendar day passes the day-of-month and day-of-week fields."""
        return self._day_matches(day.day, day.isoweekday() % 7)

    def matches(self, wall: datetime) -> bool:
        """Return whether a wall-clock time (naive, whole seconds) matches every field."""
        return (
            wall.microsecond == 0
            and wall.month in self.months
            and self.matches_day(wall.date())
            and wall.hour in self.hours
            and wall.minute in self.minutes
            and wall.second in self.seconds
        )

    def next_wall_time(self, start: datetime, *, before_year: int) -> datetime | None:
        """Return the first matching wall time at or after `start` (naive, whole seconds).

        Skips whole months, days, hours and minutes that cannot match, so the cost does not
        grow with the distance. Returns None when nothing matches before 1 January of
        `before_year`.
        """
        year, month, day = start.year, start.month, start.day
        hour, minute, second = start.hour, start.minute, start.second
        while year < before_year:
            index = bisect_left(self.months, month)
            if index == len(self.months):
                year, month, day, hour, minute, second = year + 1, self.months[0], 1, 0, 0, 0
                continue
            if self.months[index] != month:
                month, day, hour, minute, second = self.months[index], 1, 0, 0, 0
            found_day = self._first_day_from(year, month, day)
            if found_day is None:
                year, month = (year + 1, 1) if month == 12 else (year, month + 1)
                day, hour, minute, second = 1, 0, 0, 0
                continue
            if found_day != day:
                day, hour, minute, second = found_day, 0, 0, 0
            index = bisect_left(self.hours, hour)
            if index == len(self.hours):
                day, hour, minute, second = day + 1, 0, 0, 0
                continue
            if self.hours[index] != hour:
                hour, minute, second = self.hours[index], 0, 0
            index = bisect_left(self.minutes, minute)
            if index == len(self.minutes):
                hour, minute, second = hour + 1, 0, 0
                continue
            if self.minutes[index] != minute:
                minute, second = self.minutes[index], 0
            index = bisect_left(self.seconds, second)
            if index == len(self.seconds):
                minute, second = minute + 1, 0
                continue
            return datetime(year, month, day, hour, minute, self.seconds[index])
        return None

    def _first_day_from(self, year: int, month: int, day: int) -> int | None:
        """Return the first matching day of the month at or after `day`, or None."""
        last = calendar.monthrange(year, month)[1]
        if day > last:
            return None
        weekday = date(year, month, day).isoweekday() % 7
        for candidate in range(day, last + 1):
            if self._day_matches(candidate, weekday):
                return candidate
            weekday = (weekday + 1) % 7
        return None

    def _day_matches(self, day_of_month: int, day_of_week: int) -> bool:
        in_month = day_of_month in self.days_of_month
        in_week = day_of_week in self.days_of_week
        if self.day_of_month_star or self.day_of_week_star:
            return in_month and in_week
        return in_month or in_week


def _parse_field(text: str, spec: _FieldSpec, position: int) -> tuple[int, ...]:
    """Parse one field (a comma-separated list of items) into its sorted allowed values."""
    label = f"cron field {position} ({spec.name})"
    values: set[int] = set()
    for item in text.split(","):
        if not item:
            raise InvalidInput(f"{label} {excerpt(text)} has an empty list item")
        values.update(_parse_item(item, spec, label))
    return tuple(sorted(values))


def _parse_item(item: str, spec: _FieldSpec, label: str) -> range:
    """Parse `*`, `a`, `a-b`, each optionally with `/step`, into the values it allows."""
    base, slash, step_text = item.partition("/")
    step = 1
    if slash:
        step = _parse_step(step_text, spec, label)
    if base == "*":
        return range(spec.low, spec.high + 1, step)
    start_text, dash, end_text = base.partition("-")
    if dash and not (start_text and end_text):
        raise InvalidInput(f"{label} range {excerpt(base)} is missing a value")
    start = _parse_value(start_text, spec, label)
    if dash:
        end = _parse_value(end_text, spec, label)
        if spec is _DAY_OF_WEEK and end_text.lower() == "sun":
            # `sun` ends a range as day 7, so that `mon-sun` is the whole week from Monday.
            end = 7
        if start > end:
            raise InvalidInput(
                f"{label} range {excerpt(base)} is backwards: its start must not be above its end"
            )
    else:
        # `a/n` means from a to the field's maximum in steps of n; a bare `a` is just a.
        end = spec.high if slash else start
    return range(start, end + 1, step)


def _parse_step(text: str, spec: _FieldSpec, label: str) -> int:
    """Parse the `n` of `/n`: a whole number from 1 to the number of values in the field."""
    if "/" in text:
        raise InvalidInput(f"{label} has more than one '/' in one item")
    if not _is_digits(text):
        raise InvalidInput(f"{label} step {excerpt(text)} is not a whole number")
    span = spec.high - spec.low + 1
    step = _number(text)
    if step is None or not 1 <= step <= span:
        raise InvalidInput(f"{label} step {_shown(text)} is out of range 1-{span}")
    return step


def _parse_value(text: str, spec: _FieldSpec, label: str) -> int:
    """Parse a number or, where the field has them, a three-letter name."""
    if spec.names and text.isascii() and text.isalpha():
        number = spec.names.get(text.lower())
        if number is None:
            kind = "month" if spec.name == "month" else "day"
            raise InvalidInput(f"{label} value {excerpt(text)} is not a {kind} name")
        return number
    if not _is_digits(text):
        kind = "a number or a name" if spec.names else "a number"
        raise InvalidInput(f"{label} value {excerpt(text)} is not {kind}")
    value = _number(text)
    if value is None or not spec.low <= value <= spec.high:
        raise InvalidInput(f"{label} value {_shown(text)} is out of range {spec.low}-{spec.high}")
    return value


def _number(digits: str) -> int | None:
    """Return the value of ASCII digits, or None when it has too many to be in any field."""
    significant = digits.lstrip("0") or "0"
    return int(significant) if len(significant) <= _MAX_DIGITS else None


def _shown(digits: str) -> str:
    """Return a number as typed, or an excerpt of it when it is long."""
    return digits if len(digits) <= _MAX_DIGITS else excerpt(digits)


def _is_digits(text: str) -> bool:
    # str.isdigit alone accepts other scripts' digits and superscripts, which int() rejects.
    return text.isascii() and text.isdigit()
