"""Throughput: single submits from one client, bulk submits, and the drain by 2 workers.

Each run starts a server on a fresh store with no worker, submits `jobs` no-op jobs one at a
time from one client (single-submit rate), then `jobs` more in batches (bulk-submit rate),
then starts 2 worker processes and times from their start until every job has finished
(drain rate, over all twice `jobs`). Then the workers stop, twice `jobs` more are submitted
in bulk, and 2 workers that each take `prefetch` jobs beyond their slots drain them (a row
of its own: prefetch is off by default). Then a server with durability "relaxed" (answers
before the disk flush) on another fresh store takes `jobs` single submits: a row of its own.
The figures are the medians of the runs, with their spread.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.progress import bar
from rota.bench.results import BenchError, Figure, WorkloadResult
from rota.sync import Client

QUEUE = "bench"
BATCH = 1000
POLL_S = 0.25
DRAIN_TIMEOUT_S = 3600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class ThroughputParams:
    """How big each run is: jobs per phase, runs, and the workers' slots."""

    jobs: int = 20_000
    runs: int = 3
    workers: int = 2
    concurrency: int = 8
    prefetch: int = 16
    batch: int = BATCH


@dataclass(frozen=True, kw_only=True, slots=True)
class _Run:
    single_per_s: float
    single_relaxed_per_s: float
    bulk_per_s: float
    drain_per_s: float
    drain_prefetch_per_s: float
    failed: int


def run(store: StoreChoice, params: ThroughputParams, *, redis_url: str | None) -> WorkloadResult:
    """Run the workload `params.runs` times on fresh stores and return the medians."""
    runs = [_once(store, params, redis_url, number) for number in range(1, params.runs + 1)]
    failed = sum(r.failed for r in runs)
    return WorkloadResult(
        workload="throughput",
        system=store.label,
        figures={
            "single_per_s": Figure.of_runs([r.single_per_s for r in runs]),
            "single_relaxed_per_s": Figure.of_runs([r.single_relaxed_per_s for r in runs]),
            "bulk_per_s": Figure.of_runs([r.bulk_per_s for r in runs]),
            "drain_per_s": Figure.of_runs([r.drain_per_s for r in runs]),
            "drain_prefetch_per_s": Figure.of_runs([r.drain_prefetch_per_s for r in runs]),
        },
        notes=[f"{failed} job(s) failed"] if failed else [],
        params={
            "jobs": params.jobs,
            "runs": params.runs,
            "workers": params.workers,
            "concurrency": params.concurrency,
            "prefetch": params.prefetch,
        },
    )


def _once(store: StoreChoice, params: ThroughputParams, redis_url: str | None, number: int) -> _Run:
    tag = f"run {number}/{params.runs}"
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        cluster.register_tasks()
        with bar(f"{store.label} throughput {tag}: single submits", params.jobs) as progress:
            started = time.perf_counter()
            for _ in range(params.jobs):
                client.submit("bench.noop", queue=QUEUE)
                progress.advance()
            single_s = time.perf_counter() - started
        with bar(f"{store.label} throughput {tag}: bulk submits", params.jobs) as progress:
            started = time.perf_counter()
            _submit_bulk(client, params.jobs, params.batch, progress.advance)
            bulk_s = time.perf_counter() - started
        total = 2 * params.jobs
        drain_s = _drain(cluster, params, total, f"{store.label} throughput {tag}: drain")
        cluster.stop_workers()
        _submit_bulk(client, total, params.batch)
        label = f"{store.label} throughput {tag}: drain, --prefetch {params.prefetch}"
        prefetch_s = _drain(cluster, params, total, label, prefetch=params.prefetch)
        failed = len(client.list_jobs(state="failed", queue=QUEUE, limit=500)["jobs"])
    relaxed_s = _single_relaxed(store, params, redis_url, tag)
    return _Run(
        single_per_s=params.jobs / single_s,
        single_relaxed_per_s=params.jobs / relaxed_s,
        bulk_per_s=params.jobs / bulk_s,
        drain_per_s=total / drain_s,
        drain_prefetch_per_s=total / prefetch_s,
        failed=failed,
    )


def _submit_bulk(
    client: Client, jobs: int, batch: int, advance: Callable[[int], object] | None = None
) -> None:
    """Submit `jobs` no-op jobs in batches of `batch`, calling `advance` with each count."""
    for first in range(0, jobs, batch):
        count = min(batch, jobs - first)
        client.submit_many([{"task": "bench.noop", "queue": QUEUE}] * count, minimal=True)
        if advance is not None:
            advance(count)


def _drain(
    cluster: RotaCluster, params: ThroughputParams, total: int, label: str, *, prefetch: int = 0
) -> float:
    """Start the workers and return the seconds from their start until none of the queue's
    `total` jobs is pending or running."""
    client = cluster.require_client()
    with bar(label, total) as progress:
        started = time.perf_counter()
        cluster.start_workers(
            params.workers,
            concurrency=params.concurrency,
            queue=QUEUE,
            prefetch=prefetch,
            prefix="prefetch" if prefetch else "bench",
        )
        deadline = time.monotonic() + DRAIN_TIMEOUT_S
        while (left := unfinished(client, QUEUE)) > 0:
            progress.update(total - left)
            if time.monotonic() > deadline:
                raise BenchError(f"{left} job(s) still unfinished after {DRAIN_TIMEOUT_S:g} s")
            time.sleep(POLL_S)
        progress.update(total)
        return time.perf_counter() - started


def _single_relaxed(
    store: StoreChoice, params: ThroughputParams, redis_url: str | None, tag: str
) -> float:
    """Return the seconds the single submits take on a fresh store with durability
    "relaxed": the server answers before the disk flush (reported on a row of its own)."""
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server(durability="relaxed")
        cluster.register_tasks()
        label = f"{store.label} throughput {tag}: single submits, durability relaxed"
        with bar(label, params.jobs) as progress:
            started = time.perf_counter()
            for _ in range(params.jobs):
                client.submit("bench.noop", queue=QUEUE)
                progress.advance()
            return time.perf_counter() - started


def unfinished(client: Client, queue: str) -> int:
    """Return how many jobs of `queue` are pending or running."""
    for row in client.queues():
        if row["queue"] == queue:
            return int(row["pending"]) + int(row["running"])
    return 0
