"""Times and durations typed on the command line (`--at`, `--deadline`, `--start`, `--delay`...).

A time without an offset is read in the local time zone (TZ, else /etc/localtime), by the
rule fixed-time schedules follow: a wall time the clock skips means the first instant after
the gap, one it repeats means the first pass. Which zone was used, and any such move, is
said on stderr, so a time is never shifted silently. Every value is then checked against
the one range of rota.moments.
"""

from __future__ import annotations

import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, tzinfo
from pathlib import Path
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from rota.moments import moment_problem, span_problem, wall_time_problem
from rota.safe_text import excerpt
from rota.scheduling.cron import wall_time_instant

LOCALTIME = Path("/etc/localtime")
_ZONEINFO_MARK = "zoneinfo/"

_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d)?\s*$")
_UNIT_S = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}


@dataclass(frozen=True, slots=True)
class LocalZone:
    """The zone naive times are read in, and how to name it to the user."""

    zone: tzinfo | None
    """None when the system's zone cannot be loaded as tz data (a POSIX TZ rule)."""
    name: str


def parse_duration(text: str | None, option: str) -> float | None:
    """Return seconds from "90", "1.5s", "10m", "2h" or "1d" (None stays None).

    Raises typer.BadParameter naming the option when the text is not a duration or is
    longer than rota.moments allows.
    """
    if text is None:
        return None
    match = _DURATION.fullmatch(text)
    if match is None:
        raise typer.BadParameter(
            f"{excerpt(text)} is not a duration: use seconds or a unit, like 90, 10m, 2h",
            param_hint=option,
        )
    seconds = float(match.group(1)) * _UNIT_S[match.group(2) or "s"]
    problem = span_problem(seconds)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint=option)
    return seconds


def parse_moment(
    text: str | None,
    option: str,
    *,
    environ: Mapping[str, str] | None = None,
    say: Callable[[str], None] | None = None,
) -> datetime | None:
    """Return an aware datetime from ISO 8601 text (None stays None).

    Text without an offset is local time (see the module's docstring); `say` (stderr by
    default) is told which zone it was read in. Raises typer.BadParameter naming the
    option for text that is not a time or lies outside rota.moments' range.
    """
    if text is None:
        return None
    try:
        moment = datetime.fromisoformat(text)
    except ValueError:
        raise typer.BadParameter(
            f"{excerpt(text)} is not an ISO 8601 time like 2030-01-31T09:00:00+01:00",
            param_hint=option,
        ) from None
    line = None
    if moment.tzinfo is None:
        problem = wall_time_problem(moment)
        if problem is not None:
            raise typer.BadParameter(problem, param_hint=option)
        moment, line = _read_local(moment, text, local_zone(environ))
    problem = moment_problem(moment)
    if problem is not None:
        raise typer.BadParameter(problem, param_hint=option)
    if line is not None:
        (say or _to_stderr)(line)
    return moment


def local_zone(environ: Mapping[str, str] | None = None) -> LocalZone:
    """Return the local time zone: TZ when it names tz data, else /etc/localtime, else UTC."""
    environ = os.environ if environ is None else environ
    name = environ.get("TZ")
    if name is not None:
        name = name.removeprefix(":")
        if not name:
            return LocalZone(UTC, "UTC")  # an empty TZ means UTC to the C library too
        zone = _load_zone(name)
        return LocalZone(zone, name) if zone is not None else LocalZone(None, f"TZ={name}")
    if not LOCALTIME.exists():
        return LocalZone(UTC, "UTC")
    target = str(LOCALTIME.resolve())
    if _ZONEINFO_MARK in target:
        key = target.rsplit(_ZONEINFO_MARK, 1)[1]
        zone = _load_zone(key)
        if zone is not None:
            return LocalZone(zone, key)
    zone = _load_zone(str(LOCALTIME))
    return LocalZone(zone, str(LOCALTIME)) if zone is not None else LocalZone(None, "local")


def _load_zone(name: str) -> tzinfo | None:
    try:
        if name.startswith("/"):
            with open(name, "rb") as data:
                return ZoneInfo.from_file(data, key=name)
        return ZoneInfo(name)
    except (ValueError, OSError, ZoneInfoNotFoundError):  # a POSIX rule, no such zone or file
        return None


def _read_local(wall: datetime, text: str, local: LocalZone) -> tuple[datetime, str]:
    """Return the moment a naive time means in the local zone, and the line that says so."""
    if local.zone is None:
        # The zone is a rule only the C library knows: let it convert, as before.
        moment = wall.astimezone()
        return moment, f"read {text} as local time ({local.name}): {moment.isoformat()}"
    moment = wall_time_instant(wall, local.zone).astimezone(local.zone)
    return moment, wall_reading(wall, moment, text, local.name)


def wall_reading(wall: datetime, moment: datetime, text: str, zone_name: str) -> str:
    """Return the line that says how the naive wall time `wall` (typed as `text`) was read in
    the zone `zone_name`: as the aware `moment` (in that zone), and whether the clock skips
    that wall time there or shows it twice (rota.scheduling.cron.wall_time_instant's rule)."""
    note = ""
    if moment.replace(tzinfo=None) != wall.replace(tzinfo=None):
        note = f" (the clock skips {text} there: the first instant after the gap is meant)"
    elif moment.replace(fold=1).utcoffset() != moment.utcoffset():
        note = f" ({text} occurs twice there: the first one is meant)"
    return f"read {text} as {zone_name} time: {moment.isoformat()}{note}"


def _to_stderr(line: str) -> None:
    typer.echo(f"rota: {line}", err=True)
