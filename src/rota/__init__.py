"""Rota: a distributed task scheduler for Python."""

from rota import errors
from rota.app import AsyncTask, JobHandle, JobOptions, Rota, Task
from rota.client import AsyncClient
from rota.context import current_job, log
from rota.jobs import Job, JobState
from rota.sync import Client

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
