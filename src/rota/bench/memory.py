"""Memory: the resident memory (RSS) of idle worker processes, and of the server after N jobs.

Two workers start and run a few jobs (as each peer's workers do before they are measured),
then sit idle for a moment; each worker's RSS is read, its whole process tree counted (task
processes of its own, if any). Then `jobs` no-op jobs are submitted in batches and drained
by those workers; the server's RSS is read halfway and at the end, so that what the server
keeps per job shows as the growth over the second half (MiB per 10,000 jobs), from which its
RSS after 1,000,000 jobs is extrapolated when fewer ran.
"""

from __future__ import annotations

import time
from collections.abc import Callable
from dataclasses import dataclass

import psutil

from rota.bench.cluster import Process, RotaCluster, StoreChoice
from rota.bench.progress import bar
from rota.bench.results import BenchError, Figure, WorkloadResult
from rota.bench.throughput import DRAIN_TIMEOUT_S, POLL_S, unfinished
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


@dataclass(frozen=True, kw_only=True, slots=True)
class MemoryParams:
    """How many jobs the server runs before its RSS is read, and the workers measured."""

    jobs: int = 20_000
    workers: int = 2
    concurrency: int = 8
    batch: int = 1000


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
    """Start a server and workers, read their RSS idle, run `jobs` jobs, read the server's."""
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        workers = cluster.start_workers(params.workers, concurrency=params.concurrency, queue=QUEUE)
        for job_id in [str(client.submit("bench.noop", queue=QUEUE)["id"]) for _ in range(WARM_UP)]:
            client.wait(job_id, timeout_s=120.0)
        time.sleep(SETTLE_S)
        idle = [tree_rss_mib(worker.popen.pid) for worker in workers]
        server = _server(cluster)
        server_idle = tree_rss_mib(server.popen.pid)
        half = params.jobs // 2
        with bar(f"{store.label} memory: jobs submitted and run", params.jobs) as progress:
            _run_jobs(client, half, params.batch, progress.update, 0)
            time.sleep(SETTLE_S)
            server_half = tree_rss_mib(server.popen.pid)
            _run_jobs(client, params.jobs - half, params.batch, progress.update, half)
        time.sleep(SETTLE_S)
        server_after = tree_rss_mib(server.popen.pid)
        after = [tree_rss_mib(worker.popen.pid) for worker in workers]
    second_half = params.jobs - half
    growth = (server_after - server_half) / second_half * GROWTH_PER if second_half else 0.0
    at_target = server_after + max(0.0, growth) * max(0, TARGET_JOBS - params.jobs) / GROWTH_PER
    return WorkloadResult(
        workload="memory",
        system=store.label,
        figures={
            "worker_idle_mib": Figure.one(max(idle)),
            "worker_after_mib": Figure.one(max(after)),
            "server_idle_mib": Figure.one(server_idle),
            "server_after_mib": Figure.one(server_after),
            "server_growth_mib": Figure.one(growth),
            "server_1m_mib": Figure.one(at_target),
        },
        notes=[
            f"server RSS after {TARGET_JOBS:,} jobs extrapolated from {params.jobs:,}"
            if params.jobs < TARGET_JOBS
            else f"server RSS measured after {params.jobs:,} jobs"
        ],
        params={
            "jobs": params.jobs,
            "workers": params.workers,
            "concurrency": params.concurrency,
            "worker_idle_each_mib": idle,
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
        size = min(batch, count - first)
        client.submit_many([{"task": "bench.noop", "queue": QUEUE}] * size)
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while (left := unfinished(client, QUEUE)) > 0:
        show(done_before + count - left)
        if time.monotonic() > deadline:
            raise BenchError(f"{left} job(s) still unfinished after {DRAIN_TIMEOUT_S:g} s")
        time.sleep(POLL_S)
    show(done_before + count)
