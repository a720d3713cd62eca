"""Punctuality: jobs due at exact moments a few seconds ahead; how late each one started.

`jobs` jobs are submitted at once (one bulk call), each due at its own exact moment spread
evenly between `min_ahead_s` and `max_ahead_s` from now; workers are idle. Lateness is the
moment the task body began minus the moment the job was due; a negative one is an early
start, counted apart (and reported in the lateness figures as 0 would hide it, so it is not).
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.latency import wait_finished
from rota.bench.progress import bar
from rota.bench.results import Figure, WorkloadResult, percentile
from rota.jobs import JobState

QUEUE = "bench"


@dataclass(frozen=True, kw_only=True, slots=True)
class PunctualityParams:
    """How many jobs, how far ahead they are due, and the workers that take them."""

    jobs: int = 300
    min_ahead_s: float = 3.0
    max_ahead_s: float = 15.0
    workers: int = 2
    concurrency: int = 8


def due_offsets(params: PunctualityParams) -> list[float]:
    """Return each job's seconds ahead, spread evenly over the window."""
    span = params.max_ahead_s - params.min_ahead_s
    step = span / max(1, params.jobs - 1)
    return [params.min_ahead_s + index * step for index in range(params.jobs)]


def run(store: StoreChoice, params: PunctualityParams, *, redis_url: str | None) -> WorkloadResult:
    """Start a server and idle workers, submit jobs due ahead, return lateness figures."""
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        cluster.start_workers(params.workers, concurrency=params.concurrency, queue=QUEUE)
        now = time.time()
        due = [now + offset for offset in due_offsets(params)]
        created = client.submit_many(
            [
                {"task": "bench.stamp", "queue": QUEUE, "run_at": datetime.fromtimestamp(at, UTC)}
                for at in due
            ]
        )
        lateness: list[float] = []
        ran = 0
        with bar(f"{store.label} punctuality: jobs run", params.jobs) as progress:
            for job, at in zip(created, due, strict=True):
                done = wait_finished(client, str(job["id"]), params.max_ahead_s + 120.0)
                progress.advance()
                if done["state"] == JobState.SUCCEEDED:
                    ran += 1
                    lateness.append(float(str(done["result"])) - at)
    late_ms = [value * 1000 for value in lateness if value >= 0]
    early = sum(1 for value in lateness if value < 0)
    return WorkloadResult(
        workload="punctuality",
        system=store.label,
        figures={
            "late_p50_ms": Figure.one(percentile(late_ms, 0.50)),
            "late_p99_ms": Figure.one(percentile(late_ms, 0.99)),
            "late_max_ms": Figure.one(max(late_ms) if late_ms else None),
            "early": Figure.one(early),
            "ran": Figure.one(ran),
        },
        notes=[f"earliest start {min(lateness) * 1000:.1f} ms early"] if early else [],
        params={
            "jobs": params.jobs,
            "ahead_s": [params.min_ahead_s, params.max_ahead_s],
            "workers": params.workers,
        },
    )
