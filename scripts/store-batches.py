"""Measure what the store's batch verbs gain over one call per item, on one backend.

    .venv/bin/python scripts/store-batches.py --store sqlite [--jobs 2000] [--runs 3]
    .venv/bin/python scripts/store-batches.py --store postgres --dsn postgresql://...

Each figure is items per second, the median of --runs runs on a fresh store: completions one
call at a time, many calls at once (asyncio.gather), and settle() in batches; claims for
one-slot workers one acquire() each, and acquire_many() for all of them; log lines one
log() each, and in settle(lines=...) batches. No figure here is asserted anywhere.
"""

from __future__ import annotations

import argparse
import asyncio
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from pathlib import Path

from rota.jobs import Event, JobSpec, Lease
from rota.store import AcquireRequest, Store, Success, open_store

Figures = tuple[float, float]
"""Items per second (wall clock), and CPU microseconds per item (this process, all threads)."""
Scenario = Callable[[Store, int, int], Awaitable[Figures]]


class Timer:
    """Wall-clock and CPU time since it was made."""

    def __init__(self) -> None:
        self._wall = time.perf_counter()
        self._cpu = time.process_time()

    def figures(self, items: int) -> Figures:
        wall = time.perf_counter() - self._wall
        cpu = time.process_time() - self._cpu
        return items / wall, cpu / items * 1e6


async def claimed(store: Store, jobs: int) -> list[Lease]:
    await store.submit([JobSpec(task="bench.noop") for _ in range(jobs)])
    leases: list[Lease] = []
    while len(leases) < jobs:
        got = await store.acquire(AcquireRequest(worker="w", queues=["default"], limit=500))
        leases.extend(Lease(job_id=job.id, token=job.lease_token or "") for job in got)
    return leases


async def complete_one_by_one(store: Store, jobs: int, batch: int) -> Figures:
    leases = await claimed(store, jobs)
    timer = Timer()
    for lease in leases:
        await store.complete(lease, None)
    return timer.figures(jobs)


async def complete_gathered(store: Store, jobs: int, batch: int) -> Figures:
    leases = await claimed(store, jobs)
    timer = Timer()
    for first in range(0, jobs, batch):
        await asyncio.gather(
            *(store.complete(lease, None) for lease in leases[first : first + batch])
        )
    return timer.figures(jobs)


async def complete_settled(store: Store, jobs: int, batch: int) -> Figures:
    leases = await claimed(store, jobs)
    timer = Timer()
    for first in range(0, jobs, batch):
        await store.settle(
            [Success(lease=lease, result=None) for lease in leases[first : first + batch]]
        )
    return timer.figures(jobs)


def slots(batch: int) -> list[AcquireRequest]:
    return [AcquireRequest(worker=f"w{n}", queues=["default"], limit=1) for n in range(batch)]


async def acquire_one_by_one(store: Store, jobs: int, batch: int) -> Figures:
    await store.submit([JobSpec(task="bench.noop") for _ in range(jobs)])
    timer = Timer()
    taken = 0
    while taken < jobs:
        for request in slots(batch):
            taken += len(await store.acquire(request))
    return timer.figures(jobs)


async def acquire_gathered(store: Store, jobs: int, batch: int) -> Figures:
    await store.submit([JobSpec(task="bench.noop") for _ in range(jobs)])
    timer = Timer()
    taken = 0
    while taken < jobs:
        served = await asyncio.gather(*(store.acquire(request) for request in slots(batch)))
        taken += sum(len(jobs_) for jobs_ in served)
    return timer.figures(jobs)


async def acquire_batched(store: Store, jobs: int, batch: int) -> Figures:
    await store.submit([JobSpec(task="bench.noop") for _ in range(jobs)])
    timer = Timer()
    taken = 0
    while taken < jobs:
        taken += sum(len(served) for served in await store.acquire_many(slots(batch)))
    return timer.figures(jobs)


async def lines_of(store: Store, jobs: int) -> list[Event]:
    [job] = await store.submit([JobSpec(task="bench.noop")])
    now = await store.now()
    return [
        Event(job_id=job.id, attempt=0, at=now, kind="log", message=f"line {n}")
        for n in range(jobs)
    ]


async def log_one_by_one(store: Store, jobs: int, batch: int) -> Figures:
    lines = await lines_of(store, jobs)
    timer = Timer()
    for line in lines:
        await store.log([line])
    return timer.figures(jobs)


async def log_settled(store: Store, jobs: int, batch: int) -> Figures:
    lines = await lines_of(store, jobs)
    timer = Timer()
    for first in range(0, jobs, batch):
        await store.settle([], lines=lines[first : first + batch])
    return timer.figures(jobs)


SCENARIOS: dict[str, Scenario] = {
    "complete, one call at a time": complete_one_by_one,
    "complete, a batch of calls at once": complete_gathered,
    "settle, one call per batch": complete_settled,
    "acquire, one call per 1-slot worker": acquire_one_by_one,
    "acquire, a batch of calls at once": acquire_gathered,
    "acquire_many, one call per batch of workers": acquire_batched,
    "log, one call per line": log_one_by_one,
    "settle(lines=...), one call per batch": log_settled,
}


async def run_once(
    kind: str, dsn: str | None, scenario: Scenario, jobs: int, batch: int
) -> Figures:
    with tempfile.TemporaryDirectory() as folder:
        if kind == "sqlite":
            target = str(Path(folder) / "rota.db")
        elif kind == "memory":
            target = "memory:"
        else:
            target = f"{dsn}?schema=bench_{uuid.uuid4().hex[:12]}"
        store = open_store(target)
        await store.open()
        try:
            return await scenario(store, jobs, batch)
        finally:
            await store.close()


def say(line: str) -> None:
    sys.stdout.write(line + "\n")
    sys.stdout.flush()


async def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--store", choices=["sqlite", "postgres", "memory"], default="sqlite")
    parser.add_argument("--dsn", default="postgresql://postgres@127.0.0.1:5432/test")
    parser.add_argument("--jobs", type=int, default=2000)
    parser.add_argument("--batch", type=int, default=50)
    parser.add_argument("--runs", type=int, default=3)
    parser.add_argument("--only", help="run only the scenarios whose name holds this text")
    args = parser.parse_args()
    say(f"{args.store}: {args.jobs} items, batches of {args.batch}, median of {args.runs}")
    chosen = [name for name in SCENARIOS if args.only is None or args.only in name]
    for name in chosen:
        scenario = SCENARIOS[name]
        runs = [
            await run_once(args.store, args.dsn, scenario, args.jobs, args.batch)
            for _ in range(args.runs)
        ]
        rates = [rate for rate, _ in runs]
        cpu_us = statistics.median(cpu for _, cpu in runs)
        spread = f"{min(rates):,.0f}-{max(rates):,.0f}"
        say(
            f"  {name:<46} {statistics.median(rates):>9,.0f}/s  ({spread})"
            f"  {cpu_us:>7,.0f} us CPU/item"
        )


if __name__ == "__main__":
    asyncio.run(main())
