"""Latency: jobs submitted one at a time at a steady rate to idle workers; submit to start.

The workers are online and idle; each job is submitted alone, `rate` per second, and its
task returns the moment its body began. Submit-to-start is that moment minus the moment just
before the client sent the job (one machine, one clock). The first few jobs warm up the
processes and are not counted.
"""

from __future__ import annotations

import time
from dataclasses import dataclass

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.progress import bar
from rota.bench.results import BenchError, Figure, WorkloadResult, percentile
from rota.client import JobData
from rota.jobs import JobState
from rota.sync import Client

QUEUE = "bench"
WARM_UP = 5
FINISH_TIMEOUT_S = 120.0


@dataclass(frozen=True, kw_only=True, slots=True)
class LatencyParams:
    """How many jobs, how many per second, and the workers that take them."""

    jobs: int = 500
    rate: float = 50.0
    workers: int = 2
    concurrency: int = 8


@dataclass(frozen=True, kw_only=True, slots=True)
class Samples:
    """Per job: how long its submit call took, and submit to start; both in seconds."""

    submit_s: list[float]
    start_s: list[float]


def run(store: StoreChoice, params: LatencyParams, *, redis_url: str | None) -> WorkloadResult:
    """Start a server and idle workers, submit at a steady rate, return p50/p99 in ms."""
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        cluster.start_workers(params.workers, concurrency=params.concurrency, queue=QUEUE)
        samples = measure(
            client,
            jobs=params.jobs,
            rate=params.rate,
            queue=QUEUE,
            label=f"{store.label} latency",
        )
    starts = [value * 1000 for value in samples.start_s]
    return WorkloadResult(
        workload="latency",
        system=store.label,
        figures={
            "p50_ms": Figure.one(percentile(starts, 0.50)),
            "p99_ms": Figure.one(percentile(starts, 0.99)),
        },
        params={"jobs": params.jobs, "rate_per_s": params.rate, "workers": params.workers},
    )


def measure(client: Client, *, jobs: int, rate: float, queue: str, label: str) -> Samples:
    """Submit `jobs` stamp jobs one at a time, `rate` per second; return the samples.

    The first WARM_UP jobs are submitted and waited for but not counted.
    """
    interval = 1.0 / rate
    sent: list[tuple[str, float, float]] = []
    with bar(f"{label}: submits at {rate:g}/s", jobs + WARM_UP) as progress:
        next_at = time.perf_counter()
        for _ in range(jobs + WARM_UP):
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            next_at += interval
            before = time.time()
            began = time.perf_counter()
            job = client.submit("bench.stamp", queue=queue)
            sent.append((str(job["id"]), before, time.perf_counter() - began))
            progress.advance()
    submit_s: list[float] = []
    start_s: list[float] = []
    for index, (job_id, before, took) in enumerate(sent):
        job = wait_finished(client, job_id)
        if index < WARM_UP:
            continue
        if job["state"] != JobState.SUCCEEDED:
            raise BenchError(f"bench job {job_id} ended {job['state']}: {job.get('error')}")
        submit_s.append(took)
        start_s.append(float(job["result"]) - before)
    return Samples(submit_s=submit_s, start_s=start_s)


def wait_finished(client: Client, job_id: str, timeout_s: float = FINISH_TIMEOUT_S) -> JobData:
    """Return the job once finished; BenchError if it is not within `timeout_s`."""
    job = client.wait(job_id, timeout_s=timeout_s)
    if not JobState(str(job["state"])).finished:
        raise BenchError(f"bench job {job_id} did not finish within {timeout_s:g} s")
    return job
