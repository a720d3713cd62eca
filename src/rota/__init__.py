"""Rota: a distributed task scheduler for Python.

The names below load on first use (PEP 562), so that `import rota.worker` or a task module
that only defines tasks does not load the HTTP client: a worker stays small.
"""

from __future__ import annotations

import importlib
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rota import errors
    from rota.app import AsyncTask, JobHandle, JobOptions, Rota, Task
    from rota.client import AsyncClient
    from rota.context import current_job, log
    from rota.jobs import Job, JobState
    from rota.sync import Client

_WHERE = {
    "AsyncClient": "rota.client",
    "AsyncTask": "rota.app",
    "Client": "rota.sync",
    "Job": "rota.jobs",
    "JobHandle": "rota.app",
    "JobOptions": "rota.app",
    "JobState": "rota.jobs",
    "Rota": "rota.app",
    "Task": "rota.app",
    "current_job": "rota.context",
    "log": "rota.context",
}

__all__ = [
    "AsyncClient",
    "AsyncTask",
    "Client",
    "Job",
    "JobHandle",
    "JobOptions",
    "JobState",
    "Rota",
    "Task",
    "current_job",
    "errors",
    "log",
]


def __getattr__(name: str) -> Any:
    """Load one of the package's names on first use; AttributeError for any other."""
    if name == "errors":
        return importlib.import_module("rota.errors")
    module = _WHERE.get(name)
    if module is None:
        raise AttributeError(f"module 'rota' has no attribute {name!r}")
    value = getattr(importlib.import_module(module), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted([*globals(), *__all__])
