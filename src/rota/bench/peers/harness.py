"""Run one bench workload on one peer and print its result as JSON on stdout.

Run with the peer's venv python:  harness.py PEER WORKLOAD PARAMS_JSON
Environment: BENCH_REDIS (a Redis URL whose database the bench owns: it is flushed),
BENCH_POSTGRES (a DSN, for peers on PostgreSQL). Progress lines "progress DONE TOTAL TEXT"
go to stderr. Each task does one Redis round trip, as Rota's bench tasks do: noop INCRs a
counter, stamp pushes "key moment"; sleep records its start and its end.
"""

from __future__ import annotations

import importlib
import json
import math
import os
import signal
import statistics
import subprocess
import sys
import time
from importlib.metadata import version

import redis

DONE = "bench:done"
STAMPS = "bench:stamps"
STARTS = "bench:starts"
ENDS = "bench:ends"
QUEUE = "bench"


def progress(done: int, total: int | None, text: str) -> None:
    print(
        f"progress {done} {total if total is not None else '-'} {text}", file=sys.stderr, flush=True
    )


class Workers:
    """Worker processes of the peer, each in a session of its own."""

    def __init__(self, peer, concurrency: int, count: int) -> None:
        self.processes = []
        for number in range(count):
            log = open(f"worker-{number}.log", "ab")
            self.processes.append(
                subprocess.Popen(
                    peer.worker_argv(concurrency, number),
                    stdout=log,
                    stderr=subprocess.STDOUT,
                    stdin=subprocess.DEVNULL,
                    start_new_session=True,
                    env=os.environ.copy(),
                )
            )

    def kill(self, index: int) -> None:
        try:
            os.killpg(self.processes[index].pid, signal.SIGKILL)
        except ProcessLookupError:
            pass

    def stop(self) -> None:
        for process in self.processes:
            try:
                os.killpg(process.pid, signal.SIGTERM)
            except ProcessLookupError:
                pass
        deadline = time.monotonic() + 10
        for process in self.processes:
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                try:
                    os.killpg(process.pid, signal.SIGKILL)
                except ProcessLookupError:
                    pass
                process.wait()


def wait_count(
    read, total: int, text: str, *, idle_s: float = 60.0, limit_s: float = 3600.0
) -> int:
    """Poll read() until it reaches total, or stops moving for idle_s; return the last count."""
    started = time.monotonic()
    last, moved = -1, time.monotonic()
    while True:
        count = read()
        if count != last:
            last, moved = count, time.monotonic()
            progress(count, total, text)
        if count >= total:
            return count
        now = time.monotonic()
        if now - moved > idle_s or now - started > limit_s:
            return count
        time.sleep(0.1)


def warm_up(peer, db) -> None:
    """Wait until the workers take jobs: 4 no-ops done, then a moment for the rest to settle."""
    for _ in range(4):
        peer.submit("noop", [])
    if wait_count(lambda: int(db.get(DONE) or 0), 4, "warm-up", idle_s=60) < 4:
        raise SystemExit("the peer's workers did not start")
    time.sleep(1.0)


def percentile(values, fraction):
    if not values:
        return None
    ordered = sorted(values)
    rank = max(1, min(len(ordered), math.ceil(fraction * len(ordered))))
    return ordered[rank - 1]


def figure_runs(values):
    if not values:
        return {"value": None, "low": None, "high": None, "runs": []}
    return {
        "value": statistics.median(values),
        "low": min(values),
        "high": max(values),
        "runs": values,
    }


def one(value):
    return {"value": value, "low": None, "high": None, "runs": [] if value is None else [value]}


def throughput(peer, db, params):
    jobs, singles, bulks, drains = params["jobs"], [], [], []
    notes = []
    for number in range(1, params["runs"] + 1):
        db.flushdb()
        peer.reset()
        started = time.perf_counter()
        for index in range(jobs):
            peer.submit("noop", [])
            if index % 500 == 0:
                progress(index, jobs, f"run {number}: single submits")
        singles.append(jobs / (time.perf_counter() - started))
        total = jobs
        if peer.BULK:
            started = time.perf_counter()
            for first in range(0, jobs, params["batch"]):
                peer.submit_bulk("noop", min(params["batch"], jobs - first))
                progress(first, jobs, f"run {number}: bulk submits")
            bulks.append(jobs / (time.perf_counter() - started))
            total += jobs
        started = time.perf_counter()
        workers = Workers(peer, params["concurrency"], params["workers"])
        try:
            done = wait_count(lambda: int(db.get(DONE) or 0), total, f"run {number}: drain")
            drains.append(done / (time.perf_counter() - started))
            if done < total:
                notes.append(f"run {number}: {total - done} job(s) never ran")
        finally:
            workers.stop()
    if not peer.BULK:
        notes.append("no bulk submit")
    return {
        "figures": {
            "single_per_s": figure_runs(singles),
            "bulk_per_s": figure_runs(bulks),
            "drain_per_s": figure_runs(drains),
        },
        "notes": notes,
    }


def latency(peer, db, params):
    db.flushdb()
    peer.reset()
    workers = Workers(peer, params["concurrency"], params["workers"])
    try:
        warm_up(peer, db)
        interval = 1.0 / params["rate"]
        sent = {}
        next_at = time.perf_counter()
        for index in range(params["jobs"]):
            pause = next_at - time.perf_counter()
            if pause > 0:
                time.sleep(pause)
            next_at += interval
            key = f"l{index}"
            sent[key] = time.time()
            peer.submit("stamp", [key])
            if index % 50 == 0:
                progress(index, params["jobs"], "submits")
        wait_count(lambda: db.llen(STAMPS), params["jobs"], "jobs run", idle_s=60)
    finally:
        workers.stop()
    starts = []
    for item in db.lrange(STAMPS, 0, -1):
        key, moment = item.decode().split()
        starts.append((float(moment) - sent[key]) * 1000)
    notes = (
        []
        if len(starts) == params["jobs"]
        else [f"{params['jobs'] - len(starts)} job(s) never ran"]
    )
    return {
        "figures": {
            "p50_ms": one(percentile(starts, 0.5)),
            "p99_ms": one(percentile(starts, 0.99)),
        },
        "notes": notes,
    }


def punctuality(peer, db, params):
    db.flushdb()
    peer.reset()
    if not peer.DELAY:
        return {
            "figures": {"ran": one(0)},
            "notes": ["no delayed jobs without an extra scheduler process"],
        }
    workers = Workers(peer, params["concurrency"], params["workers"])
    try:
        warm_up(peer, db)
        count, low, high = params["jobs"], params["min_ahead_s"], params["max_ahead_s"]
        step = (high - low) / max(1, count - 1)
        now = time.time()
        due = {f"p{index}": now + low + index * step for index in range(count)}
        for key, moment in due.items():
            peer.submit("stamp", [key], eta=moment)
        wait_count(lambda: db.llen(STAMPS), count, "jobs run", idle_s=high + 30)
    finally:
        workers.stop()
    lateness = []
    for item in db.lrange(STAMPS, 0, -1):
        key, moment = item.decode().split()
        lateness.append(float(moment) - due[key])
    late_ms = [value * 1000 for value in lateness if value >= 0]
    return {
        "figures": {
            "late_p50_ms": one(percentile(late_ms, 0.5)),
            "late_p99_ms": one(percentile(late_ms, 0.99)),
            "late_max_ms": one(max(late_ms) if late_ms else None),
            "early": one(sum(1 for value in lateness if value < 0)),
            "ran": one(len(lateness)),
        },
        "notes": [],
    }


def recovery(peer, db, params):
    db.flushdb()
    peer.reset()
    workers = Workers(peer, 1, 2)
    try:
        warm_up(peer, db)
        for index in range(params["jobs"]):
            peer.submit("sleep", [f"r{index}", params["seconds"]])
        time.sleep(params["kill_after_s"])
        workers.kill(0)
        killed_at = time.time()
        wait_count(
            lambda: len(set(db.lrange(ENDS, 0, -1))), params["jobs"], "jobs finished", idle_s=10
        )
    finally:
        workers.stop()
    starts = {}
    for item in db.lrange(STARTS, 0, -1):
        key, moment = item.decode().split()
        starts.setdefault(key, []).append(float(moment))
    restarted = {key: sorted(times) for key, times in starts.items() if len(times) > 1}
    reruns = [times[1] - killed_at for times in restarted.values() if times[1] >= killed_at]
    return {
        "figures": {
            "completed": one(len(set(db.lrange(ENDS, 0, -1)))),
            "run_twice": one(len(restarted)),
            "overlapping": one(sum(1 for times in restarted.values() if times[1] < killed_at)),
            "rerun_after_s": one(min(reruns) if reruns else None),
        },
        "notes": [],
    }


def session_rss_mib(leader: int) -> float:
    """Return the RSS of every process in the session `leader` started, in MiB (from /proc)."""
    page = os.sysconf("SC_PAGE_SIZE")
    total = 0
    for entry in os.listdir("/proc"):
        if not entry.isdigit():
            continue
        try:
            with open(f"/proc/{entry}/stat") as stat:
                fields = stat.read().rsplit(")", 1)[1].split()
            if int(fields[3]) != leader:  # state, ppid, pgrp, session
                continue
            with open(f"/proc/{entry}/statm") as statm:
                total += int(statm.read().split()[1]) * page
        except (OSError, IndexError, ValueError):
            continue  # a process that ended meanwhile
    return total / 2**20


def memory(peer, db, params):
    db.flushdb()
    peer.reset()
    workers = Workers(peer, params["concurrency"], params["workers"])
    try:
        warm_up(peer, db)
        time.sleep(2.0)
        idle = [session_rss_mib(process.pid) for process in workers.processes]
    finally:
        workers.stop()
    return {
        "figures": {"worker_idle_mib": one(max(idle))},
        "notes": ["workers only: the broker's memory is not counted"],
        "params": {"worker_idle_each_mib": idle},
    }


def main() -> None:
    name, workload, params = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    peer = importlib.import_module(f"{name}_peer")
    db = redis.Redis.from_url(os.environ["BENCH_REDIS"])
    peer.open()
    try:
        outcome = globals()[workload](peer, db, params)
    finally:
        peer.close()
    outcome.update(
        workload=workload,
        system=f"{name} {version(peer.DISTRIBUTION)}",
        params={**params, **outcome.get("params", {})},
    )
    print(json.dumps(outcome))


if __name__ == "__main__":
    main()
