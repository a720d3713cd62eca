"""Measure the drain side by side: revisions of Rota's source in interleaved rounds.

    .venv/bin/python scripts/drain.py [--jobs 20000] [--rounds 3] [--store sqlite]
        [--profile FOLDER] [NAME=SRC_FOLDER ...]

Each revision is a folder holding the `rota` package (a `src` folder of a checkout, e.g.
made by `git archive COMMIT src | tar -x`); none given: this checkout's. Each round starts,
for each revision in turn, a server on a fresh store, bulk-submits --jobs no-op jobs, then
starts 2 worker processes of 8 slots and times from their start until no job is pending or
running. Printed per run, and as medians per revision: jobs/s, and CPU per job (from psutil)
of the server and of the workers together over the drain; the machine's load average.
--profile runs py-spy on the server and on one worker during each drain (raw stacks in
FOLDER). No figure here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import psutil

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.throughput import unfinished

QUEUE = "bench"
BATCH = 1000
SPY = ["py-spy", "record", "-r", "200", "-f", "raw"]


@dataclass(frozen=True, slots=True)
class Drain:
    per_s: float
    server_cpu_us: float
    workers_cpu_us: float
    load: float


def cpu_s(process: psutil.Process) -> float:
    times = process.cpu_times()
    return times.user + times.system


def once(label: str, src: Path, store: StoreChoice, jobs: int, profile: Path | None) -> Drain:
    os.environ["PYTHONPATH"] = str(src)
    with RotaCluster(store=store) as cluster:
        client = cluster.start_server()
        cluster.register_tasks()
        for first in range(0, jobs, BATCH):
            count = min(BATCH, jobs - first)
            client.submit_many([{"task": "bench.noop", "queue": QUEUE}] * count)
        assert cluster.server is not None
        server = psutil.Process(cluster.server.popen.pid)
        spies: list[subprocess.Popen[bytes]] = []
        server_before = cpu_s(server)
        started = time.perf_counter()
        workers = cluster.start_workers(2, concurrency=8, queue=QUEUE)
        handles = [psutil.Process(w.popen.pid) for w in workers]
        workers_before = sum(cpu_s(h) for h in handles)
        if profile is not None:
            profile.mkdir(parents=True, exist_ok=True)
            for name, pid in (("server", server.pid), ("worker", handles[0].pid)):
                out = profile / f"{label}-{name}.txt"
                spies.append(
                    subprocess.Popen(
                        [*SPY, "-p", str(pid), "-o", str(out)],
                        stdout=subprocess.DEVNULL,
                        stderr=subprocess.DEVNULL,
                    )
                )
        while unfinished(client, QUEUE) > 0:
            time.sleep(0.1)
        elapsed = time.perf_counter() - started
        server_cpu = cpu_s(server) - server_before
        workers_cpu = sum(cpu_s(h) for h in handles) - workers_before
        for spy in spies:
            spy.send_signal(2)
            spy.wait(30)
        return Drain(
            per_s=jobs / elapsed,
            server_cpu_us=server_cpu / jobs * 1e6,
            workers_cpu_us=workers_cpu / jobs * 1e6,
            load=os.getloadavg()[0],
        )


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("revisions", nargs="*", help="NAME=SRC_FOLDER")
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--store", default="sqlite")
    parser.add_argument("--dsn", default=os.environ.get("ROTA_BENCH_POSTGRES"))
    parser.add_argument("--profile", type=Path)
    options = parser.parse_args()
    here = Path(__file__).resolve().parent.parent / "src"
    revisions = [tuple(r.split("=", 1)) for r in options.revisions] or [("this", str(here))]
    store = StoreChoice(kind=options.store, dsn=options.dsn)
    if options.profile is not None and shutil.which("py-spy") is None:
        sys.exit("--profile needs py-spy on the PATH")
    results: dict[str, list[Drain]] = {name: [] for name, _ in revisions}
    for number in range(1, options.rounds + 1):
        for name, src in revisions:
            drain = once(name, Path(src), store, options.jobs, options.profile)
            results[name].append(drain)
            say(
                f"round {number} {name}: {drain.per_s:,.0f} jobs/s, CPU per job: server "
                f"{drain.server_cpu_us:.0f} us, workers {drain.workers_cpu_us:.0f} us "
                f"(load {drain.load:.1f})"
            )
    for name, drains in results.items():
        rates = [d.per_s for d in drains]
        say(
            f"{name}: median {statistics.median(rates):,.0f} jobs/s "
            f"({min(rates):,.0f}-{max(rates):,.0f}), CPU per job: server "
            f"{statistics.median(d.server_cpu_us for d in drains):.0f} us, workers "
            f"{statistics.median(d.workers_cpu_us for d in drains):.0f} us"
        )


if __name__ == "__main__":
    main()
