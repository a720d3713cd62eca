"""Backoff delays: exponential, capped, jittered, and bad policies refused."""

from __future__ import annotations

import random

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from rota.errors import InvalidInput
from rota.retry import DEFAULT_BACKOFF, Backoff, delay_s

EXACT = Backoff(base_s=1, factor=2, max_s=300, jitter=0)


def test_delays_grow_exponentially() -> None:
    assert [delay_s(n, EXACT) for n in range(1, 7)] == [1, 2, 4, 8, 16, 32]


def test_delays_are_capped() -> None:
    assert delay_s(9, EXACT) == 256
    assert delay_s(10, EXACT) == 300
    assert delay_s(50, EXACT) == 300


def test_huge_attempt_numbers_do_not_overflow() -> None:
    policy = Backoff(base_s=1, factor=10, max_s=60, jitter=0)
    assert delay_s(10**9, policy) == 60


def test_a_factor_close_to_one_keeps_growing_past_a_thousand_attempts() -> None:
    policy = Backoff(base_s=1, factor=1.001, max_s=1000, jitter=0)
    assert delay_s(3777, policy) == pytest.approx(1.001**3776, rel=1e-12)  # about 43.6 s


def test_no_attempt_number_is_too_large() -> None:
    assert delay_s(10**400, Backoff(base_s=5, factor=1, max_s=300, jitter=0)) == 5
    assert delay_s(10**400, Backoff(base_s=0, factor=2, max_s=300, jitter=0)) == 0
    assert delay_s(10**400, Backoff(base_s=1, factor=1.5, max_s=300, jitter=0)) == 300


def test_constant_backoff() -> None:
    policy = Backoff(base_s=5, factor=1, max_s=300, jitter=0)
    assert {delay_s(n, policy) for n in range(1, 20)} == {5}


def test_jitter_spreads_delays() -> None:
    rng = random.Random(7)
    policy = Backoff(base_s=100, factor=2, max_s=1000, jitter=0.5)
    delays = {delay_s(1, policy, rng=rng) for _ in range(50)}
    assert len(delays) > 40
    assert all(50 <= d <= 100 for d in delays)


def test_attempt_zero_is_refused() -> None:
    with pytest.raises(InvalidInput):
        delay_s(0)


@pytest.mark.parametrize(
    ("fields", "word"),
    [
        ({"base_s": -1}, "negative"),
        ({"max_s": -1}, "negative"),
        ({"factor": 0.5}, "factor"),
        ({"jitter": -0.1}, "jitter"),
        ({"jitter": 1.5}, "jitter"),
    ],
)
def test_bad_policies_are_refused(fields: dict[str, float], word: str) -> None:
    with pytest.raises(InvalidInput, match=word):
        Backoff(**fields)


policies = st.builds(
    Backoff,
    base_s=st.floats(0.001, 1e4),
    factor=st.floats(1, 100),
    max_s=st.floats(0, 1e6),
    jitter=st.floats(0, 1),
)


ROUNDING = 1e-9
"""Relative: the same power computed another way may differ in its last bits."""


@given(policy=policies, attempt=st.integers(1, 10_000), seed=st.integers(0, 2**32))
@example(
    policy=Backoff(base_s=1637.0, factor=1.0000000000000002, max_s=1638.0, jitter=0.0),
    attempt=3777,
    seed=0,
)
def test_delay_stays_within_bounds(policy: Backoff, attempt: int, seed: int) -> None:
    delay = delay_s(attempt, policy, rng=random.Random(seed))
    try:
        ceiling = min(policy.max_s, policy.base_s * policy.factor ** (attempt - 1))
    except OverflowError:
        ceiling = policy.max_s
    assert delay <= policy.max_s
    low, high = ceiling * (1 - policy.jitter), ceiling
    assert low * (1 - ROUNDING) <= delay <= high * (1 + ROUNDING)


@given(policy=policies, attempt=st.integers(1, 60))
def test_delay_never_shrinks_without_jitter(policy: Backoff, attempt: int) -> None:
    exact = Backoff(base_s=policy.base_s, factor=policy.factor, max_s=policy.max_s, jitter=0)
    assert delay_s(attempt + 1, exact) >= delay_s(attempt, exact)


def test_default_policy() -> None:
    assert DEFAULT_BACKOFF == Backoff(base_s=1.0, factor=2.0, max_s=300.0, jitter=0.25)
