"""Backoff between attempts: pure functions of (attempt, policy) -> delay_s."""

from __future__ import annotations

import random
from dataclasses import dataclass

from rota.errors import InvalidInput


@dataclass(frozen=True, kw_only=True, slots=True)
class Backoff:
    """Exponential backoff, capped, with jitter.

    The delay before attempt n+1 (after attempt n failed) is
    ``min(max_s, base_s * factor ** (n - 1))``, then multiplied by a random factor in
    ``[1 - jitter, 1]`` so that jobs failing together do not retry together.
    """

    base_s: float = 1.0
    factor: float = 2.0
    max_s: float = 300.0
    jitter: float = 0.25

    def __post_init__(self) -> None:
        if self.base_s < 0 or self.max_s < 0:
            raise InvalidInput("backoff delays must not be negative")
        if self.factor < 1:
            raise InvalidInput("backoff factor must be at least 1")
        if not 0 <= self.jitter <= 1:
            raise InvalidInput("backoff jitter must be between 0 and 1")


DEFAULT_BACKOFF = Backoff()


def delay_s(
    attempt: int, policy: Backoff = DEFAULT_BACKOFF, *, rng: random.Random | None = None
) -> float:
    """Return how long to wait after failed attempt number `attempt` (1-based)."""
    if attempt < 1:
        raise InvalidInput("attempt numbers start at 1")
    if policy.base_s == 0 or policy.factor == 1:
        raw = policy.base_s  # whatever the attempt number, even one no float can hold
    else:
        # The exact exponent: capping it would shrink the delay of a factor close to 1.
        # A float power, so an int factor cannot make a huge exact integer.
        try:
            raw = policy.base_s * float(policy.factor) ** (attempt - 1)
        except OverflowError:
            raw = policy.max_s  # base_s > 0 and factor > 1: far beyond any cap
    capped = min(policy.max_s, raw)
    spread = (rng or random).random() * policy.jitter
    return capped * (1.0 - spread)
