"""One bench run: the chosen workloads on each chosen Rota store, then on each peer."""

from __future__ import annotations

import os
import platform
from collections.abc import Callable
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from typing import Any

import psutil

from rota.bench import (
    latency,
    memory,
    peer_runner,
    punctuality,
    recovery,
    scale,
    soak,
    throughput,
)
from rota.bench.cluster import StoreChoice
from rota.bench.metrics import ALL_WORKLOADS, DEFAULT_WORKLOADS
from rota.bench.peer_runner import PeerSetting
from rota.bench.results import BenchError, WorkloadResult

PEERLESS = frozenset({"scale", "soak"})
"""Workloads only Rota runs (they fill its store by SQL)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Plan:
    """What one `rota bench` run does."""

    workloads: list[str]
    stores: list[StoreChoice]
    peers: list[str] = field(default_factory=list)
    redis_url: str | None = None
    """Where tasks do their one Redis round trip; None: Rota's tasks do no work."""
    peer_setting: PeerSetting | None = None
    throughput: throughput.ThroughputParams = field(default_factory=throughput.ThroughputParams)
    latency: latency.LatencyParams = field(default_factory=latency.LatencyParams)
    punctuality: punctuality.PunctualityParams = field(
        default_factory=punctuality.PunctualityParams
    )
    recovery: recovery.RecoveryParams = field(default_factory=recovery.RecoveryParams)
    memory: memory.MemoryParams = field(default_factory=memory.MemoryParams)
    scale: scale.ScaleParams = field(default_factory=scale.ScaleParams)
    soak: soak.SoakParams = field(default_factory=soak.SoakParams)


def parse_workloads(names: list[str]) -> list[str]:
    """Return the workloads named ("all" or none: every one but the soak), in the
    canonical order."""
    wanted = {name.strip() for item in names for name in item.split(",") if name.strip()}
    if not wanted or "all" in wanted:
        wanted = (wanted - {"all"}) | set(DEFAULT_WORKLOADS)
    unknown = wanted - set(ALL_WORKLOADS)
    if unknown:
        raise BenchError(
            f"unknown workload(s) {', '.join(sorted(unknown))}; known: {', '.join(ALL_WORKLOADS)}"
        )
    return [name for name in ALL_WORKLOADS if name in wanted]


def run_plan(
    plan: Plan, *, on_result: Callable[[WorkloadResult], None] | None = None
) -> list[WorkloadResult]:
    """Run every workload of the plan on every store and peer; return the results in order."""
    results: list[WorkloadResult] = []

    def keep(result: WorkloadResult) -> None:
        results.append(result)
        if on_result is not None:
            on_result(result)

    for workload in plan.workloads:
        for store in plan.stores:
            keep(_rota(workload, store, plan))
        if workload in PEERLESS:
            continue
        for peer in plan.peers:
            assert plan.peer_setting is not None
            keep(peer_runner.run(peer, workload, _peer_params(workload, plan), plan.peer_setting))
    return results


def machine() -> dict[str, Any]:
    """Return what the results were measured on: CPU, cores, memory, OS and Python."""
    model = platform.processor() or ""
    try:
        with open("/proc/cpuinfo") as info:
            for line in info:
                if line.startswith("model name"):
                    model = line.split(":", 1)[1].strip()
                    break
    except OSError:
        pass
    return {
        "cpu": model,
        "cores": os.cpu_count(),
        "memory_gib": round(psutil.virtual_memory().total / 2**30, 1),
        "system": f"{platform.system()} {platform.release()}",
        "python": platform.python_version(),
        "measured_at": datetime.now(UTC).isoformat(timespec="seconds"),
    }


def plan_params(plan: Plan) -> dict[str, Any]:
    """Return the plan's parameters as JSON-ready data."""
    return {
        "workloads": plan.workloads,
        "stores": [store.kind for store in plan.stores],
        "peers": plan.peers,
        "task_work": "one Redis round trip" if plan.redis_url else "none",
        "throughput": asdict(plan.throughput),
        "latency": asdict(plan.latency),
        "punctuality": asdict(plan.punctuality),
        "recovery": asdict(plan.recovery),
        "memory": asdict(plan.memory),
        "scale": asdict(plan.scale),
        "soak": asdict(plan.soak),
    }


def _rota(workload: str, store: StoreChoice, plan: Plan) -> WorkloadResult:
    redis_url = plan.redis_url
    if workload == "throughput":
        return throughput.run(store, plan.throughput, redis_url=redis_url)
    if workload == "latency":
        return latency.run(store, plan.latency, redis_url=redis_url)
    if workload == "punctuality":
        return punctuality.run(store, plan.punctuality, redis_url=redis_url)
    if workload == "recovery":
        return recovery.run(store, plan.recovery, redis_url=redis_url)
    if workload == "memory":
        return memory.run(store, plan.memory, redis_url=redis_url)
    if workload == "soak":
        return soak.run(store, plan.soak, redis_url=redis_url)
    return scale.run(store, plan.scale, redis_url=redis_url)


def _peer_params(workload: str, plan: Plan) -> dict[str, Any]:
    params: dict[str, Any] = {
        "throughput": asdict(plan.throughput),
        "latency": asdict(plan.latency),
        "punctuality": asdict(plan.punctuality),
        "recovery": asdict(plan.recovery),
        "memory": asdict(plan.memory),
    }[workload]
    return params
