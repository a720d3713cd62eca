"""Memory: the resident memory (RSS) of idle worker processes, and of the server after N jobs.

Two workers start and run a few jobs (as each peer's workers do before they are measured),
then sit idle for a moment; each worker's RSS is read, its whole process tree counted (task
processes of its own, if any). Then `jobs` no-op jobs run in READINGS rounds (fewer when
there are fewer jobs): each round's jobs are submitted in batches and drained by those
workers, and the server's RSS is read after each round, once it has sat idle ROUND_SETTLE_S
(time for its idle trim to hand freed heap pages back, as before the last reading).

The server's growth per 10,000 jobs is the least-squares slope of those readings against the
jobs done, fitted over the second half of them (the first half is warm-up: page caches and
allocator arenas filling). Its RSS after 1,000,000 jobs is the reading after the jobs plus
that slope over the jobs still to go, but only when the growth counts: positive, at least
GROWTH_SE_FACTOR standard errors of the slope, at least NOISE_FLOOR_MIB per 10,000 jobs and
a fitted rise of at least RISE_FLOOR_MIB over the fitted readings (more than one 1 MiB step).
Growth within noise, or RSS that falls, is not extrapolated: the figure is then the reading
after the jobs, and the note says what growth the readings do not rule out. See
`estimate_growth`.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass

import psutil

from rota.bench.cluster import Process, RotaCluster, StoreChoice
from rota.bench.progress import bar
from rota.bench.results import BenchError, Figure, WorkloadResult
from rota.bench.throughput import DRAIN_TIMEOUT_S, unfinished
from rota.sync import Client

QUEUE = "bench"
WARM_UP = 4
SETTLE_S = 2.0
"""How long the processes sit idle before their RSS is read."""
MIB = 2**20
GROWTH_PER = 10_000
"""The growth figure's unit: MiB per this many jobs."""
TARGET_JOBS = 1_000_000
"""Issue 10's server target is its RSS after this many jobs."""
READINGS = 40
"""How many rounds the jobs are split into, the server's RSS read after each (fewer when
there are fewer jobs: see round_size)."""
ROUND_SETTLE_S = 1.5
"""How long the server sits idle after a round before its RSS is read: its idle trim hands
the allocator's freed pages back 0.5 to 1 s after its last change, and a reading before it
holds them, which rises and falls from round to round."""
ROUND_POLL_S = 0.05
"""How often a round's drain is checked (rounds are short: a coarse poll would idle them)."""
MIN_FIT = 3
"""The fewest readings a slope and its standard error are fitted on."""
MIN_ROUND_JOBS = 250
"""The fewest jobs a round runs while the jobs allow 2 * MIN_FIT rounds (a 1,000-job smoke
run reads 6 times, not 40)."""
GROWTH_SE_FACTOR = 3.0
"""Growth counts only at this many standard errors of the fitted slope or more. Three, not
two: neighbouring readings move together (an allocator arena or a cache page held for a
while), which a least-squares standard error, taking them as independent, understates."""
NOISE_FLOOR_MIB = 0.1
"""Growth under this many MiB per GROWTH_PER jobs (10 bytes a job, 10 MiB over 1M jobs) does
not count however steady: caches that fill up to a bound (SQLite's page caches, some 4 MiB
in all) rise that slowly in a run of some 100,000 jobs, and a run that short cannot tell them
from a leak."""
RISE_FLOOR_MIB = 2.0
"""Growth counts only when the fitted line rises at least this much (MiB) over the jobs the
fit spans. RSS moves in steps of about 1 MiB (Python's allocator takes memory in arenas of
1 MiB) and a single step reads as a rise of up to 1.5 times its size (when it falls in the
middle of the span); a rise of 2 MiB takes more than one."""


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryParams:
    """How many jobs the server runs before its RSS is read, and the workers measured."""

    jobs: int = 20_000
    workers: int = 2
    concurrency: int = 8
    batch: int = 1000


@dataclass(frozen=True, kw_only=True, slots=True)
class Reading:
    """The server's RSS (MiB) read once `jobs` jobs had been run."""

    jobs: int
    rss_mib: float


@dataclass(frozen=True, kw_only=True, slots=True)
class GrowthEstimate:
    """The server's fitted growth and its RSS after `target_jobs` jobs (see `estimate_growth`).

    `growth_mib` and `growth_se_mib` are the slope and its standard error in MiB per
    GROWTH_PER jobs, `rise_mib` the fitted line's rise over the jobs the fit spans (all None
    with fewer than MIN_FIT readings to fit); `fitted` is how many readings the fit used, of
    `readings`; `doubts` are the tests of `estimate_growth` the growth fails, in words, and
    `counts` is True when it passes them all, so is extrapolated; `at_target_mib` is the RSS
    after `target_jobs` (None when fewer ran and no slope could be fitted); `upper_mib` is
    what it would be with a growth of GROWTH_SE_FACTOR standard errors above the fitted one,
    which the readings do not rule out (None when measured or not fitted); `measured` is
    True when `target_jobs` or more ran.
    """

    growth_mib: float | None
    growth_se_mib: float | None
    rise_mib: float | None
    fitted: int
    readings: int
    doubts: tuple[str, ...]
    counts: bool
    at_target_mib: float | None
    upper_mib: float | None
    target_jobs: int
    measured: bool

    def note(self) -> str:
        """Return one line that says what was fitted and whether it was extrapolated."""
        if self.growth_mib is None or self.growth_se_mib is None:
            return (
                f"server RSS growth not fitted: {self.fitted} reading(s) in the second half, "
                f"{MIN_FIT} needed"
            )
        fit = (
            f"server RSS growth {self.growth_mib:+.3f} \u00b1 {self.growth_se_mib:.3f} MiB per "
            f"{GROWTH_PER:,} jobs (least squares over the last {self.fitted} of "
            f"{self.readings} readings, \u00b1 one standard error)"
        )
        if self.measured:
            return f"{fit}; the {self.target_jobs:,}-job figure is measured"
        if self.counts:
            return (
                f"{fit}: counted (>= {GROWTH_SE_FACTOR:g} standard errors, >= "
                f"{NOISE_FLOOR_MIB:g} MiB and a rise of >= {RISE_FLOOR_MIB:g} MiB), "
                f"extrapolated to {self.target_jobs:,} jobs"
            )
        upper = "" if self.upper_mib is None else f" ({self.upper_mib:.1f} MiB is not ruled out)"
        return (
            f"{fit}: not counted ({'; '.join(self.doubts)}), so no growth is assumed: the "
            f"{self.target_jobs:,}-job figure is the RSS after the jobs{upper}"
        )


def estimate_growth(
    readings: Sequence[Reading], last: Reading, target_jobs: int = TARGET_JOBS
) -> GrowthEstimate:
    """Fit the server's RSS growth and estimate its RSS after `target_jobs` jobs.

    `readings` are taken during the run, in order; the slope of RSS against jobs done is
    fitted by least squares over the second half of them (from index len // 2: the first
    half is warm-up and is ignored), with its standard error (residuals taken as independent,
    n - 2 degrees of freedom). `last` is the reading the estimate starts from (the one after
    the jobs). When `last.jobs >= target_jobs` the estimate is `last.rss_mib`, measured.

    Otherwise the growth counts when it is positive and beyond noise: at least
    GROWTH_SE_FACTOR standard errors, at least NOISE_FLOOR_MIB per GROWTH_PER jobs, and a
    fitted rise of at least RISE_FLOOR_MIB over the jobs the fit spans (more than one step
    of the allocator). Then the estimate is `last.rss_mib` plus the slope over the
    `target_jobs - last.jobs` jobs still to go; else it is `last.rss_mib` itself: growth
    within noise, or RSS that falls, is not extrapolated. `upper_mib` is where the slope
    plus GROWTH_SE_FACTOR standard errors would take it, which the readings do not rule out.
    With fewer than MIN_FIT readings (distinct in jobs) in the second half there is no slope
    and, below `target_jobs`, no estimate (None).
    """
    half = list(readings[len(readings) // 2 :])
    measured = last.jobs >= target_jobs
    slope, se = _fit(half)
    at_target = upper = rise = None
    doubts: list[str] = []
    if slope is not None and se is not None:
        rise = slope * (half[-1].jobs - half[0].jobs) / GROWTH_PER
        if slope <= 0:
            doubts.append("RSS did not rise")
        else:
            if slope < GROWTH_SE_FACTOR * se:
                doubts.append(f"under {GROWTH_SE_FACTOR:g} standard errors")
            if slope < NOISE_FLOOR_MIB:
                doubts.append(f"under the {NOISE_FLOOR_MIB:g} MiB floor")
            if rise < RISE_FLOOR_MIB:
                doubts.append(
                    f"a rise of {rise:.2f} MiB over the fitted jobs, under {RISE_FLOOR_MIB:g} MiB"
                )
    counts = slope is not None and not doubts and not measured
    if measured:
        at_target = last.rss_mib
    elif slope is not None and se is not None:
        still = (target_jobs - last.jobs) / GROWTH_PER
        at_target = last.rss_mib + (slope if counts else 0.0) * still
        upper = last.rss_mib + max(0.0, slope + GROWTH_SE_FACTOR * se) * still
    return GrowthEstimate(
        growth_mib=slope,
        growth_se_mib=se,
        rise_mib=rise,
        fitted=len(half),
        readings=len(readings),
        doubts=tuple(doubts),
        counts=counts,
        at_target_mib=at_target,
        upper_mib=upper,
        target_jobs=target_jobs,
        measured=measured,
    )


def _fit(readings: list[Reading]) -> tuple[float | None, float | None]:
    """Return the least-squares slope of RSS on jobs, and its standard error, both in MiB
    per GROWTH_PER jobs; (None, None) with fewer than MIN_FIT readings or one job count."""
    if len(readings) < MIN_FIT:
        return None, None
    xs = [reading.jobs / GROWTH_PER for reading in readings]
    ys = [reading.rss_mib for reading in readings]
    x_mean = math.fsum(xs) / len(xs)
    y_mean = math.fsum(ys) / len(ys)
    sxx = math.fsum((x - x_mean) ** 2 for x in xs)
    if sxx <= 0:
        return None, None
    slope = math.fsum((x - x_mean) * (y - y_mean) for x, y in zip(xs, ys, strict=True)) / sxx
    residuals = math.fsum(
        (y - y_mean - slope * (x - x_mean)) ** 2 for x, y in zip(xs, ys, strict=True)
    )
    return slope, math.sqrt(residuals / (len(xs) - 2) / sxx)


def round_size(jobs: int) -> int:
    """Return how many jobs each round runs: `jobs` split into READINGS rounds, but into as
    few as 2 * MIN_FIT rounds of up to MIN_ROUND_JOBS when there are few jobs (each round
    idles ROUND_SETTLE_S, and readings closer together than that are noise); at least 1."""
    return max(1, math.ceil(jobs / READINGS), min(MIN_ROUND_JOBS, math.ceil(jobs / (2 * MIN_FIT))))


def tree_rss_mib(pid: int) -> float:
    """Return the RSS of a process and all its descendants, in MiB; BenchError if it is gone."""
    try:
        root = psutil.Process(pid)
        processes = [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        raise BenchError(f"process {pid} is gone; its memory cannot be read") from None
    total = 0
    for process in processes:
        try:
            total += process.memory_info().rss
        except psutil.NoSuchProcess:  # a child that ended meanwhile holds nothing
            continue
    return total / MIB


def run(store: StoreChoice, params: MemoryParams, *, redis_url: str | None) -> WorkloadResult:
    """Start a server and workers, read their RSS idle, run `jobs` jobs in rounds reading the
    server's RSS after each, then estimate its RSS after TARGET_JOBS (`estimate_growth`)."""
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        workers = cluster.start_workers(params.workers, concurrency=params.concurrency, queue=QUEUE)
        for job_id in [str(client.submit("bench.noop", queue=QUEUE)["id"]) for _ in range(WARM_UP)]:
            client.wait(job_id, timeout_s=120.0)
        time.sleep(SETTLE_S)
        idle = [tree_rss_mib(worker.popen.pid) for worker in workers]
        server = _server(cluster)
        server_idle = tree_rss_mib(server.popen.pid)
        each = round_size(params.jobs)
        readings: list[Reading] = []
        done = 0
        with bar(f"{store.label} memory: jobs submitted and run", params.jobs) as progress:
            while done < params.jobs:
                count = min(each, params.jobs - done)
                _run_jobs(client, count, params.batch, progress.update, done)
                done += count
                time.sleep(ROUND_SETTLE_S)
                readings.append(Reading(jobs=done, rss_mib=tree_rss_mib(server.popen.pid)))
        time.sleep(SETTLE_S)
        server_after = tree_rss_mib(server.popen.pid)
        after = [tree_rss_mib(worker.popen.pid) for worker in workers]
    estimate = estimate_growth(readings, Reading(jobs=params.jobs, rss_mib=server_after))
    return WorkloadResult(
        workload="memory",
        system=store.label,
        figures={
            "worker_idle_mib": Figure.one(max(idle)),
            "worker_after_mib": Figure.one(max(after)),
            "server_idle_mib": Figure.one(server_idle),
            "server_after_mib": Figure.one(server_after),
            "server_growth_mib": Figure.one(estimate.growth_mib),
            "server_1m_mib": Figure.one(estimate.at_target_mib),
        },
        notes=[
            f"server RSS after {TARGET_JOBS:,} jobs extrapolated from {params.jobs:,}"
            if params.jobs < TARGET_JOBS
            else f"server RSS measured after {params.jobs:,} jobs",
            estimate.note(),
        ],
        params={
            "jobs": params.jobs,
            "workers": params.workers,
            "concurrency": params.concurrency,
            "worker_idle_each_mib": idle,
            "round_jobs": each,
            "server_readings": [[r.jobs, r.rss_mib] for r in readings],
            "server_growth_se_mib": estimate.growth_se_mib,
            "server_growth_fitted": estimate.fitted,
            "server_growth_rise_mib": estimate.rise_mib,
            "server_growth_counts": estimate.counts,
            "server_1m_upper_mib": estimate.upper_mib,
        },
    )


def _server(cluster: RotaCluster) -> Process:
    if cluster.server is None:
        raise BenchError("the bench server is not running")
    return cluster.server


def _run_jobs(
    client: Client, count: int, batch: int, show: Callable[[float], None], done_before: int
) -> None:
    """Submit `count` no-op jobs in batches and wait until none is left unfinished."""
    for first in range(0, count, batch):
        client.submit_many([{"task": "bench.noop", "queue": QUEUE}] * min(batch, count - first))
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while (left := unfinished(client, QUEUE)) > 0:
        show(done_before + count - left)
        if time.monotonic() > deadline:
            raise BenchError(f"{left} job(s) still unfinished after {DRAIN_TIMEOUT_S:g} s")
        time.sleep(ROUND_POLL_S)
    show(done_before + count)
