"""Names checked against patterns that end in `$` are checked whole: in Python, `$` also
matches before a final newline, so `pattern.match("name\\n")` took a name with a line ending
into schedules, calendars, settings and store schemas."""

from __future__ import annotations

from collections.abc import Callable

import pytest

from rota.calendar.plan import ImportOptions
from rota.errors import InvalidInput
from rota.scheduling.model import ScheduleSpec
from rota.store.postgres import PostgresStore
from rota.tasks.hosts import HostAllowlist


def _schedule(name: str) -> object:
    return ScheduleSpec(name=name, task="rota.echo", interval_s=60).validate()


def _calendar(name: str) -> object:
    return ImportOptions(calendar=name).validate()


def _schema(name: str) -> object:
    return PostgresStore("postgresql://127.0.0.1:1/x", schema=name)


def _allowed_http(name: str) -> object:
    return HostAllowlist.parse([f"{name}.example.com"])


CHECKS: list[Callable[[str], object]] = [_schedule, _calendar, _schema, _allowed_http]


@pytest.mark.parametrize("check", CHECKS, ids=lambda check: check.__name__.strip("_"))
def test_a_name_with_a_final_line_ending_is_refused(check: Callable[[str], object]) -> None:
    check("nightly")  # the same name without it passes
    with pytest.raises(InvalidInput):
        check("nightly\n")
