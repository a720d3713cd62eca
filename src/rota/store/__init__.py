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
from rota.store.factory import open_store

__all__ = [
    "AcquireRequest",
    "JobChanges",
    "JobPage",
    "JobQuery",
    "QueueStats",
    "Store",
    "WorkerInfo",
    "open_store",
]
