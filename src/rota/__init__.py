"""Rota: a distributed task scheduler for Python.

The names below load on first use (PEP 562), so that `import rota.worker` or a task module
that only defines tasks does not load the HTTP client: a worker stays small.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from rota.lazy_names import lazy_names

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
    "errors": "rota.errors",
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


__getattr__, __dir__ = lazy_names(globals(), _WHERE)
