"""Storage: one Store protocol, one backend per module."""

from rota.store.base import (
    AcquireRequest,
    Failure,
    JobChanges,
    JobPage,
    JobQuery,
    Outcome,
    QueueStats,
    Settled,
    Store,
    Success,
    WorkerInfo,
)
from rota.store.factory import open_store

__all__ = [
    "AcquireRequest",
    "Failure",
    "JobChanges",
    "JobPage",
    "JobQuery",
    "Outcome",
    "QueueStats",
    "Settled",
    "Store",
    "Success",
    "WorkerInfo",
    "open_store",
]
