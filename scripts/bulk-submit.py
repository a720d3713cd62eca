"""Measure bulk submits alone: rate, and client and server CPU per job.

    .venv/bin/python scripts/bulk-submit.py [--jobs 20000] [--batch 1000] [--store sqlite]
    .venv/bin/python scripts/bulk-submit.py --store postgres --dsn postgresql://...

A server starts on a fresh store (as `rota bench` starts it), learns the bench's tasks, then
`--jobs` no-op jobs are submitted in batches of `--batch` through the sync client's
`submit_many`, as `rota bench throughput` does. Printed as one JSON line: jobs/s (wall
clock of the bulk phase), the client's CPU µs per job (this process) and the server's
(its process, all threads, from psutil). With `--profile FILE` py-spy records the server
during the bulk phase (a speedscope file). No figure here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import inspect
import json
import os
import subprocess
import sys
import time

import psutil

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.client import AsyncClient

QUEUE = "bench"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--jobs", type=int, default=20_000)
    parser.add_argument("--batch", type=int, default=1000)
    parser.add_argument("--store", choices=("sqlite", "postgres"), default="sqlite")
    parser.add_argument("--dsn", default=os.environ.get("ROTA_BENCH_POSTGRES"))
    parser.add_argument("--profile", default=None, help="py-spy output file (speedscope)")
    parser.add_argument("--label", default="")
    options = parser.parse_args()
    store = StoreChoice(kind=options.store, dsn=options.dsn)
    with RotaCluster(store=store) as cluster:
        client = cluster.start_server()
        cluster.register_tasks()
        assert cluster.server is not None
        server = psutil.Process(cluster.server.popen.pid)
        item = {"task": "bench.noop", "queue": QUEUE}
        # The minimal answer where the client has it (as `rota bench throughput` asks).
        minimal = "minimal" in inspect.signature(AsyncClient.submit_many).parameters
        options_of = {"minimal": True} if minimal else {}
        client.submit_many([item] * 10, **options_of)  # warm both sides once
        spy = None
        if options.profile:
            spy = subprocess.Popen(
                [
                    os.path.join(os.path.dirname(sys.executable), "py-spy"),
                    "record",
                    "--pid",
                    str(server.pid),
                    "--rate",
                    "200",
                    "--format",
                    "speedscope",
                    "--output",
                    options.profile,
                    "--nonblocking",
                ],
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            time.sleep(1.0)
        server_cpu = _cpu(server)
        client_cpu = time.process_time()
        started = time.perf_counter()
        for first in range(0, options.jobs, options.batch):
            count = min(options.batch, options.jobs - first)
            client.submit_many([item] * count, **options_of)
        wall = time.perf_counter() - started
        client_us = (time.process_time() - client_cpu) / options.jobs * 1e6
        server_us = (_cpu(server) - server_cpu) / options.jobs * 1e6
        if spy is not None:
            spy.send_signal(2)
            spy.wait(30)
    sys.stdout.write(
        json.dumps(
            {
                "label": options.label,
                "store": options.store,
                "jobs_per_s": round(options.jobs / wall),
                "client_us_per_job": round(client_us, 1),
                "server_us_per_job": round(server_us, 1),
                "load": round(os.getloadavg()[0], 1),
            }
        )
        + "\n"
    )
    sys.stdout.flush()


def _cpu(process: psutil.Process) -> float:
    times = process.cpu_times()
    return float(times.user + times.system)


if __name__ == "__main__":
    main()
