"""The cluster at a glance: machine figures from heartbeats, and the dashboard's overview."""

from __future__ import annotations

from datetime import timedelta
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from rota.errors import RotaError
from rota.server.api.system_models import OverviewOut, SystemOut
from rota.server.state import Hub, hub_of
from rota.store.base import WorkerInfo
from rota.store.insights import Insights

router = APIRouter(tags=["system"])
HubDep = Annotated[Hub, Depends(hub_of)]

OVERVIEW_SPAN_S = 3600
BUCKET_S = 60


@router.get(
    "/system",
    summary="Show CPU, memory, disk and GPU figures of every worker",
    response_model=SystemOut,
)
async def system(hub: HubDep) -> dict[str, Any]:
    """Return each worker's last reported resources, and totals over the machines online."""
    workers = await hub.store.list_workers()
    now = await hub.store.now()
    return {
        "at": now.isoformat(),
        "workers": [_worker_figures(worker, now) for worker in workers],
        "totals": cluster_totals(workers),
    }


@router.get(
    "/overview",
    summary="Show throughput, queues, lateness and workers",
    response_model=OverviewOut,
)
async def overview(hub: HubDep) -> dict[str, Any]:
    """Return the figures of the dashboard's overview page."""
    store = hub.store
    if not isinstance(store, Insights):
        raise RotaError(f"{store!r} offers no throughput or lateness figures")
    now = await store.now()
    since = now - timedelta(seconds=OVERVIEW_SPAN_S)
    buckets = await store.throughput(since, BUCKET_S)
    lateness = await store.lateness(since)
    queues = await store.queue_stats()
    workers = await store.list_workers()
    online = [worker for worker in workers if worker.state != "offline"]
    return {
        "at": now.isoformat(),
        "span_s": OVERVIEW_SPAN_S,
        "bucket_s": BUCKET_S,
        "throughput": [bucket.to_dict() for bucket in buckets],
        "lateness": lateness.to_dict(),
        "queues": [
            {
                "queue": queue.queue,
                "pending": queue.pending,
                "due": queue.due,
                "running": queue.running,
                "oldest_due_age_s": queue.oldest_due_age_s,
            }
            for queue in queues
        ],
        "workers": {
            "online": len(online),
            "total": len(workers),
            "capacity": sum(worker.capacity for worker in online),
            "running": sum(worker.running for worker in online),
        },
    }


def _worker_figures(worker: WorkerInfo, now: Any) -> dict[str, Any]:
    age_s = None if worker.last_seen_at is None else (now - worker.last_seen_at).total_seconds()
    return {
        "name": worker.name,
        "state": worker.state,
        "tags": worker.tags,
        "queues": worker.queues,
        "running": worker.running,
        "capacity": worker.capacity,
        "last_seen_at": worker.last_seen_at.isoformat() if worker.last_seen_at else None,
        "heartbeat_age_s": None if age_s is None else max(0.0, age_s),
        "resources": worker.resources,
    }


def cluster_totals(workers: list[WorkerInfo]) -> dict[str, Any]:
    """Return totals over the machines of online workers; workers sharing a host (by the
    `host` their heartbeat names) count once."""
    machines: dict[str, dict[str, Any]] = {}
    for worker in workers:
        if worker.state == "offline" or not worker.resources:
            continue
        host = str(worker.resources.get("host") or worker.name)
        machines.setdefault(host, worker.resources)
    figures = list(machines.values())
    cpu = [float(m["cpu_percent"]) for m in figures if _number(m.get("cpu_percent"))]
    gpus = [gpu for m in figures for gpu in m.get("gpus") or [] if isinstance(gpu, dict)]
    return {
        "machines": len(figures),
        "workers_online": sum(1 for worker in workers if worker.state != "offline"),
        "cpu_count": _sum(figures, "cpu_count"),
        "cpu_percent": sum(cpu) / len(cpu) if cpu else None,
        "memory_used_bytes": _sum(figures, "memory_used_bytes"),
        "memory_total_bytes": _sum(figures, "memory_total_bytes"),
        "disk_used_bytes": _sum(figures, "disk_used_bytes"),
        "disk_total_bytes": _sum(figures, "disk_total_bytes"),
        "gpu_count": len(gpus),
        "gpu_memory_used_bytes": _sum(gpus, "memory_used_bytes"),
        "gpu_memory_total_bytes": _sum(gpus, "memory_total_bytes"),
    }


def _number(value: Any) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def _sum(items: list[dict[str, Any]], key: str) -> float:
    return float(sum(item[key] for item in items if _number(item.get(key))))
