"""Response bodies of the cluster-at-a-glance routes: /system and /overview."""

from __future__ import annotations

from pydantic import Field

from rota.server.api.json_values import JsonObject
from rota.server.api.models import Out, QueueOut
from rota.store.base import WorkerState


class WorkerFiguresOut(Out):
    """One worker's last reported machine figures."""

    name: str
    state: WorkerState
    tags: list[str]
    queues: list[str]
    running: int
    capacity: int
    last_seen_at: str | None
    heartbeat_age_s: float | None
    resources: JsonObject = Field(description="as its last heartbeat reported them")


class ClusterTotalsOut(Out):
    """Totals over the machines of online workers (workers sharing a host count once)."""

    machines: int
    workers_online: int
    cpu_count: float
    cpu_percent: float | None = Field(description="the mean over the machines")
    memory_used_bytes: float
    memory_total_bytes: float
    disk_used_bytes: float
    disk_total_bytes: float
    gpu_count: int
    gpu_memory_used_bytes: float
    gpu_memory_total_bytes: float


class SystemOut(Out):
    at: str
    workers: list[WorkerFiguresOut]
    totals: ClusterTotalsOut


class ThroughputBucketOut(Out):
    start_at: str
    succeeded: int
    failed: int


class LatenessOut(Out):
    """How late jobs started after their run_at, over a sample."""

    samples: int
    p50_s: float | None
    p99_s: float | None
    max_s: float | None


class WorkerCountsOut(Out):
    online: int
    total: int
    capacity: int = Field(description="slots of the online workers")
    running: int


class OverviewOut(Out):
    """The figures of the dashboard's overview page."""

    at: str
    span_s: int
    bucket_s: int
    throughput: list[ThroughputBucketOut] = Field(description="oldest first")
    lateness: LatenessOut
    queues: list[QueueOut]
    workers: WorkerCountsOut
