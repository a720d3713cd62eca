"""The server's RSS after 1M jobs: a least-squares growth over the second half of many
readings, extrapolated only when it stands out of the noise."""

from __future__ import annotations

import math
import random
import statistics

import pytest
from hypothesis import given
from hypothesis import strategies as st

from rota.bench.memory import (
    GROWTH_PER,
    NOISE_FLOOR_MIB,
    TARGET_JOBS,
    Reading,
    estimate_growth,
    round_size,
)


def readings(values: list[float], every: int = 500) -> list[Reading]:
    """One reading after each round of `every` jobs."""
    return [Reading(jobs=(i + 1) * every, rss_mib=value) for i, value in enumerate(values)]


def two_reading_figure(run: list[Reading]) -> float:
    """The 1M figure as the bench made it before: the growth between the reading halfway and
    the last one, extrapolated from the last."""
    half, last = run[len(run) // 2 - 1], run[-1]
    growth = (last.rss_mib - half.rss_mib) / (last.jobs - half.jobs)
    return last.rss_mib + max(0.0, growth) * (TARGET_JOBS - last.jobs)


def test_flat_noisy_readings_show_no_growth_where_two_readings_made_a_bogus_one() -> None:
    # RSS flat at 72 to 76 MiB over 20,000 jobs, read after each of 40 rounds; the reading
    # halfway happens to sit low and the last one high, as in the run that said 121.6 MiB.
    draw = random.Random(1)
    values = [draw.uniform(72.0, 76.0) for _ in range(40)]
    values[19], values[-1] = 72.5, 74.0
    run = readings(values)
    assert two_reading_figure(run) > 80  # what the bench reported before: "not met"
    estimate = estimate_growth(run, run[-1])
    assert estimate.growth_mib is not None and estimate.growth_se_mib is not None
    assert not estimate.counts
    assert estimate.at_target_mib == 74.0
    assert estimate.fitted == 20 and estimate.readings == 40
    assert estimate.growth_mib > 0  # the readings happen to rise: 0.58 +- 0.79 MiB per 10,000
    assert "under 3 standard errors" in estimate.doubts
    assert "not counted (under 3 standard errors" in estimate.note()
    assert "the 1,000,000-job figure is the RSS after the jobs" in estimate.note()
    # What the readings cannot rule out: the fitted slope plus 3 standard errors.
    assert estimate.upper_mib == pytest.approx(
        74.0 + (estimate.growth_mib + 3 * estimate.growth_se_mib) * 98
    )
    assert f"{estimate.upper_mib:.1f} MiB is not ruled out" in estimate.note()


@given(
    level=st.floats(min_value=30, max_value=200),
    wander=st.lists(st.floats(min_value=-3, max_value=3), min_size=6, max_size=200),
    every=st.integers(min_value=1, max_value=5000),
)
def test_readings_that_wander_without_a_trend_never_extrapolate(
    level: float, wander: list[float], every: int
) -> None:
    # Any wandering at all, once its own least-squares trend over the second half is taken out.
    run = readings([level + w for w in wander], every)
    half = run[len(run) // 2 :]
    xs = [r.jobs for r in half]
    x_mean = sum(xs) / len(xs)
    sxx = sum((x - x_mean) ** 2 for x in xs)
    trend = sum((x - x_mean) * (r.rss_mib - level) for x, r in zip(xs, half, strict=True)) / sxx
    flat = run[: len(run) // 2] + [
        Reading(jobs=r.jobs, rss_mib=r.rss_mib - trend * (r.jobs - x_mean)) for r in half
    ]
    estimate = estimate_growth(flat, flat[-1])
    assert estimate.growth_mib == pytest.approx(0.0, abs=1e-6)
    assert not estimate.counts
    assert estimate.at_target_mib == flat[-1].rss_mib


def test_a_real_leak_is_extrapolated_from_the_last_reading() -> None:
    # 0.5 MiB per 10,000 jobs, read every 2,500 jobs over 100,000, with a little noise.
    draw = random.Random(3)
    run = readings(
        [70.0 + (i + 1) * 0.125 + draw.uniform(-0.1, 0.1) for i in range(40)], every=2500
    )
    last = Reading(jobs=100_000, rss_mib=75.0)
    estimate = estimate_growth(run, last)
    assert estimate.counts and estimate.doubts == ()
    assert estimate.growth_mib == pytest.approx(0.5, abs=0.02)
    assert estimate.at_target_mib == pytest.approx(75.0 + 90 * 0.5, abs=90 * 0.02)
    assert "extrapolated to 1,000,000 jobs" in estimate.note()


def test_one_step_of_the_allocator_is_not_taken_for_growth() -> None:
    # Flat at 71.1 MiB, then one arena more (1 MiB) a third of the way into the second half,
    # as a PostgreSQL server read: least squares alone finds a steady-looking 1.3 MiB per
    # 10,000 jobs, many standard errors, and 200 MiB after 1M jobs.
    run = readings([70.0] * 20 + [71.1] * 7 + [72.1] * 13)
    assert two_reading_figure(run) > 80
    estimate = estimate_growth(run, run[-1])
    assert estimate.growth_mib is not None and estimate.growth_se_mib is not None
    assert estimate.growth_mib > 1 and estimate.growth_mib > 3 * estimate.growth_se_mib
    assert not estimate.counts
    assert estimate.rise_mib is not None and estimate.rise_mib < 1.5
    assert estimate.doubts == (
        f"a rise of {estimate.rise_mib:.2f} MiB over the fitted jobs, under 2 MiB",
    )
    assert estimate.at_target_mib == 72.1
    # Two steps within the same jobs are more than one arena: they count.
    two = readings([70.0] * 20 + [71.1] * 7 + [72.1] * 6 + [73.1] * 7)
    assert estimate_growth(two, two[-1]).counts


@given(
    per_10k=st.floats(min_value=0.5, max_value=50),
    rise=st.floats(min_value=3, max_value=20),  # under 1M jobs in all
    start=st.floats(min_value=30, max_value=200),
    noise=st.lists(st.floats(min_value=-1, max_value=1), min_size=20, max_size=200),
    size=st.floats(min_value=0, max_value=1),
)
def test_a_linear_leak_under_bounded_noise_is_found_and_extrapolated(
    per_10k: float, rise: float, start: float, noise: list[float], size: float
) -> None:
    count = len(noise)
    # Rounds long enough for the leak to add at least `rise` MiB over the fitted half.
    every = math.ceil(rise / per_10k * GROWTH_PER / (count - count // 2 - 1))
    first = (count // 2 + 1) * every  # the first reading of the fitted half
    span = count * every - first
    # Noise up to a twentieth of what the leak adds over the fitted half.
    amplitude = size * per_10k * span / GROWTH_PER / 20
    run = [
        Reading(jobs=j, rss_mib=start + per_10k * j / GROWTH_PER + amplitude * n)
        for j, n in ((every * (i + 1), n) for i, n in enumerate(noise))
    ]
    estimate = estimate_growth(run, run[-1])
    assert estimate.counts
    assert estimate.growth_mib is not None
    # Noise of at most `amplitude` can tilt a least-squares slope by at most this much.
    xs = [r.jobs / GROWTH_PER for r in run[count // 2 :]]
    x_mean = sum(xs) / len(xs)
    tilt = amplitude * sum(abs(x - x_mean) for x in xs) / sum((x - x_mean) ** 2 for x in xs)
    assert abs(estimate.growth_mib - per_10k) <= tilt + 1e-6 * per_10k
    still = (TARGET_JOBS - run[-1].jobs) / GROWTH_PER
    expected = run[-1].rss_mib + per_10k * still
    assert estimate.at_target_mib == pytest.approx(expected, abs=(tilt + 1e-6 * per_10k) * still)


def test_a_warm_up_step_in_the_first_half_is_ignored() -> None:
    # The first rounds fill caches and arenas (66 -> 73 MiB), then RSS stays put.
    run = readings([66.0, 69.0, 71.0, 72.5] + [73.0] * 36)
    estimate = estimate_growth(run, run[-1])
    assert estimate.growth_mib == pytest.approx(0.0)
    assert not estimate.counts
    assert estimate.at_target_mib == 73.0
    # A fit over every reading would have taken the warm-up for growth (0.95 MiB per 10,000).
    everything = statistics.linear_regression([r.jobs for r in run], [r.rss_mib for r in run])
    assert 73.0 + everything.slope * (TARGET_JOBS - run[-1].jobs) > 80


@given(
    warm_up=st.lists(st.floats(min_value=0, max_value=500), min_size=20, max_size=20),
    rest=st.lists(st.floats(min_value=60, max_value=90), min_size=20, max_size=20),
)
def test_the_first_half_of_the_readings_does_not_move_the_estimate(
    warm_up: list[float], rest: list[float]
) -> None:
    run = readings(warm_up + rest)
    other = readings([70.0] * 20 + rest)
    assert estimate_growth(run, run[-1]) == estimate_growth(other, other[-1])


def test_a_steady_rise_under_the_floor_does_not_count() -> None:
    per_10k = NOISE_FLOOR_MIB / 2  # 5 bytes a job, without any noise
    run = readings([72.0 + per_10k * (i + 1) * 500 / GROWTH_PER for i in range(40)])
    estimate = estimate_growth(run, run[-1])
    assert estimate.growth_mib == pytest.approx(per_10k)
    assert not estimate.counts
    assert estimate.at_target_mib == run[-1].rss_mib
    assert "under the 0.1 MiB floor" in estimate.doubts


def test_falling_rss_is_not_extrapolated_down() -> None:
    run = readings([80.0 - 0.1 * i for i in range(40)])
    estimate = estimate_growth(run, run[-1])
    assert estimate.growth_mib is not None and estimate.growth_mib < 0
    assert not estimate.counts
    assert estimate.at_target_mib == run[-1].rss_mib
    assert estimate.doubts == ("RSS did not rise",)


@given(
    values=st.lists(st.floats(min_value=1, max_value=1000), min_size=1, max_size=100),
    every=st.integers(min_value=1, max_value=50_000),
    last_mib=st.floats(min_value=1, max_value=1000),
)
def test_the_estimate_is_never_below_the_last_reading(
    values: list[float], every: int, last_mib: float
) -> None:
    run = readings(values, every)
    estimate = estimate_growth(run, Reading(jobs=run[-1].jobs, rss_mib=last_mib))
    assert estimate.at_target_mib is None or estimate.at_target_mib >= last_mib


def test_too_few_readings_give_no_estimate_and_a_million_jobs_are_measured() -> None:
    few = readings([70.0, 71.0, 72.0, 73.0])  # two in the second half
    estimate = estimate_growth(few, few[-1])
    assert estimate.growth_mib is None and estimate.at_target_mib is None
    assert "not fitted" in estimate.note()
    many = readings([70.0 + i for i in range(40)], every=25_000)  # 1,000,000 jobs
    measured = estimate_growth(many, Reading(jobs=TARGET_JOBS, rss_mib=74.0))
    assert measured.measured and not measured.counts
    assert measured.at_target_mib == 74.0
    assert "measured" in measured.note()


def test_jobs_are_split_into_forty_rounds_or_fewer_of_250_jobs() -> None:
    assert round_size(20_000) == 500
    assert round_size(10_000) == 250
    assert round_size(1_000_000) == 25_000
    assert round_size(1_000) == 167  # 6 rounds, the fewest a fit of the second half takes
    assert round_size(1_001) == 167
    assert round_size(5_000) == 250  # 20 rounds
    assert round_size(2) == 1
