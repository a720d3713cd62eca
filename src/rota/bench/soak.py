"""Soak: a steady stream of jobs for minutes on end, with the memory (RSS) of the server and
of each worker read every second.

Jobs are submitted at `rate` per second in small batches (every tenth of a second, the jobs
due by then), to workers that run them as they come. Each second a sampler thread reads the
resident memory of the server's and of each worker's whole process tree. The figures are
the rate kept, every job's end, and how memory moved: first reading, highest, last, and the
growth from the middle third of the run to the last (a leak shows as growth that does not
level off). The samples themselves are kept in the result's params.
"""

from __future__ import annotations

import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.memory import tree_rss_mib
from rota.bench.progress import bar
from rota.bench.results import BenchError, Figure, WorkloadResult
from rota.bench.throughput import DRAIN_TIMEOUT_S, POLL_S, unfinished
from rota.sync import Client

QUEUE = "bench"
TICK_S = 0.1
"""How often the due jobs are submitted (one batch each time)."""
SAMPLE_S = 1.0
"""How often the processes' RSS is read."""
MAX_BATCH = 2000


@dataclass(frozen=True, kw_only=True, slots=True)
class SoakParams:
    """How many jobs per second, for how long, and the workers that run them."""

    rate: float = 200.0
    minutes: float = 10.0
    workers: int = 2
    concurrency: int = 8


@dataclass(frozen=True, kw_only=True, slots=True)
class Sample:
    """One reading: seconds since the stream began, the server's and each worker's RSS (MiB)."""

    at_s: float
    server_mib: float
    workers_mib: tuple[float, ...]


class Sampler:
    """Reads the RSS of the server and workers every SAMPLE_S on a thread of its own."""

    def __init__(self, server_pid: int, worker_pids: list[int]) -> None:
        self.samples: list[Sample] = []
        self.error: str | None = None
        self._pids = (server_pid, worker_pids)
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, name="rota-soak-sampler", daemon=True)
        self._began = time.monotonic()

    def __enter__(self) -> Sampler:
        self._began = time.monotonic()
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()
        self._thread.join(10)

    def _run(self) -> None:
        server, workers = self._pids
        while True:
            try:
                self.samples.append(
                    Sample(
                        at_s=round(time.monotonic() - self._began, 1),
                        server_mib=round(tree_rss_mib(server), 1),
                        workers_mib=tuple(round(tree_rss_mib(pid), 1) for pid in workers),
                    )
                )
            except BenchError as exc:  # a process died: the run reports it
                self.error = str(exc)
                return
            if self._stop.wait(SAMPLE_S):
                return


def run(store: StoreChoice, params: SoakParams, *, redis_url: str | None) -> WorkloadResult:
    """Start a server and workers, submit `rate` jobs/s for `minutes`, sampling RSS each second."""
    total = round(params.rate * params.minutes * 60)
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        workers = cluster.start_workers(params.workers, concurrency=params.concurrency, queue=QUEUE)
        if cluster.server is None:
            raise BenchError("the bench server is not running")
        sampler = Sampler(cluster.server.popen.pid, [worker.popen.pid for worker in workers])
        with sampler:
            label = f"{store.label} soak: {params.rate:g} jobs/s for {params.minutes:g} min"
            with bar(label, total) as progress:
                began = time.monotonic()
                _stream(client, params.rate, total, progress.update)
                submit_s = time.monotonic() - began
            ended = time.monotonic()
            _drain(client)
            drain_s = time.monotonic() - ended
        failed = len(client.list_jobs(state="failed", queue=QUEUE, limit=500)["jobs"])
    if sampler.error is not None:
        raise BenchError(f"soak: {sampler.error}")
    samples = sampler.samples
    servers = [sample.server_mib for sample in samples]
    biggest = [max(sample.workers_mib) for sample in samples]
    notes = [f"{failed} job(s) failed"] if failed else []
    return WorkloadResult(
        workload="soak",
        system=store.label,
        figures={
            "rate_per_s": Figure.one(total / submit_s if submit_s > 0 else None),
            "jobs": Figure.one(total),
            "failed": Figure.one(failed),
            "drain_after_s": Figure.one(drain_s),
            "server_first_mib": Figure.one(servers[0] if servers else None),
            "server_max_mib": Figure.one(max(servers, default=None)),
            "server_last_mib": Figure.one(servers[-1] if servers else None),
            "server_growth_mib": Figure.one(_growth(servers)),
            "worker_first_mib": Figure.one(biggest[0] if biggest else None),
            "worker_max_mib": Figure.one(max(biggest, default=None)),
            "worker_last_mib": Figure.one(biggest[-1] if biggest else None),
            "worker_growth_mib": Figure.one(_growth(biggest)),
        },
        notes=notes,
        params={
            "rate_per_s": params.rate,
            "minutes": params.minutes,
            "workers": params.workers,
            "concurrency": params.concurrency,
            "sample_s": SAMPLE_S,
            "samples": [
                {"at_s": s.at_s, "server_mib": s.server_mib, "workers_mib": list(s.workers_mib)}
                for s in samples
            ],
        },
    )


def _stream(client: Client, rate: float, total: int, show: Callable[[float], None]) -> None:
    """Submit `total` no-op jobs, every TICK_S the ones due by then at `rate`/s; a batch
    that comes late carries the jobs it fell behind by (up to MAX_BATCH)."""
    began = next_at = time.monotonic()
    sent = 0
    while sent < total:
        due = min(total, int((time.monotonic() - began) * rate) + 1)
        if due > sent:
            count = min(due - sent, MAX_BATCH)
            client.submit_many([{"task": "bench.noop", "queue": QUEUE}] * count)
            sent += count
            show(sent)
        next_at += TICK_S
        time.sleep(max(0.0, next_at - time.monotonic()))


def _drain(client: Client) -> None:
    deadline = time.monotonic() + DRAIN_TIMEOUT_S
    while unfinished(client, QUEUE) > 0:
        if time.monotonic() > deadline:
            raise BenchError(f"soak: jobs still unfinished after {DRAIN_TIMEOUT_S:g} s")
        time.sleep(POLL_S)


def _growth(values: list[float]) -> float | None:
    """Return the median of the last third of `values` minus that of the middle third (MiB);
    None with fewer than three values."""
    if len(values) < 3:
        return None
    third = len(values) // 3
    return statistics.median(values[-third:]) - statistics.median(values[third : 2 * third])
