"""`@app.periodic` keeps schedule declarations in the app's registry for workers to register."""

from __future__ import annotations

import pytest

import rota
from rota.errors import InvalidInput
from rota.tasks import TaskRegistry


def ping() -> None:
    """A plain function: `@app.periodic` registers it as a task too."""


def test_periodic_declares_a_schedule_for_a_task_or_a_plain_function() -> None:
    app = rota.Rota()

    @app.periodic(cron="0 3 * * *", tz="Europe/Berlin", args=[1])
    @app.task(name="reports.nightly")
    def nightly(day: int) -> int:
        return day

    app.periodic(interval=30, name="ping-often", overlap="skip", deadline=10)(ping)

    assert nightly(2) == 2  # still the task
    assert app.registry.periodic["reports.nightly"] == {
        "task": "reports.nightly",
        "args": [1],
        "kwargs": {},
        "cron": "0 3 * * *",
        "tz": "Europe/Berlin",
    }
    declared = app.registry.periodic["ping-often"]
    assert declared["interval"] == 30.0 and declared["overlap"] == "skip"
    assert declared["task"] in app.registry  # the plain function became a task
    merged = TaskRegistry()
    merged.merge(app.registry)
    assert set(merged.periodic) == {"reports.nightly", "ping-often"}


@pytest.mark.parametrize("timing", [{}, {"cron": "@daily", "interval": 5}])
def test_periodic_needs_exactly_one_timing(timing: dict[str, object]) -> None:
    with pytest.raises(InvalidInput, match="exactly one of cron and interval"):
        rota.Rota().periodic(**timing)  # type: ignore[arg-type]
