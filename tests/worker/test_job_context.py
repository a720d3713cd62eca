"""What a task reports through current_job() is checked where it enters, in the task."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

from rota.context import JobContext


def context_for(reported: list[float | None]) -> JobContext:
    return JobContext(
        job_id="j",
        task="t",
        attempt=1,
        max_attempts=1,
        on_progress=lambda fraction, message: reported.append(fraction),
        on_log=lambda text, stream: None,
    )


@pytest.mark.parametrize("fraction", [True, False, "0.5", Decimal("0.5"), [0.5], 1j])
def test_a_progress_that_is_not_a_number_is_refused_in_the_task(fraction: object) -> None:
    # progress(True) used to pass, and the server closed the worker's whole connection on
    # the message it could not read ("progress.progress must be a number or nil").
    reported: list[float | None] = []
    with pytest.raises(TypeError, match="progress: the fraction must be a number from 0 to 1"):
        context_for(reported).progress(fraction, "m")  # type: ignore[arg-type]
    assert reported == []


@pytest.mark.parametrize("fraction", [-0.1, 1.5, math.nan, math.inf, 10**400])
def test_a_progress_outside_0_to_1_is_refused(fraction: float) -> None:
    reported: list[float | None] = []
    with pytest.raises(ValueError, match="progress is a fraction between 0 and 1"):
        context_for(reported).progress(fraction)
    assert reported == []


def test_a_progress_is_reported_as_a_plain_float() -> None:
    reported: list[float | None] = []
    context = context_for(reported)
    for fraction in (0, 1, Fraction(1, 2), 0.25, None):
        context.progress(fraction)  # type: ignore[arg-type]
    assert reported == [0.0, 1.0, 0.5, 0.25, None]
    assert all(type(value) is float for value in reported[:-1])
