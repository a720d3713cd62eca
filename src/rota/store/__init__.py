"""Storage: one Store protocol, one backend per module."""

from rota.store.base import (
    AcquireRequest,
    JobChanges,
    JobPage,
    JobQuery,
    QueueStats,
    Store,
    WorkerInfo,
)

__all__ = [
    "AcquireRequest",
    "JobChanges",
    "JobPage",
    "JobQuery",
    "QueueStats",
    "Store",
    "WorkerInfo",
]
