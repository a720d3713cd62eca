"""What this server did, counted once: metrics of its own actions, and worker notices.

Job notices are not published here: they come from the store's change feed (see
feed_follower.py), which tells of changes made through every server.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rota.jobs import Job
from rota.server.events import Broadcaster, Notice, worker_notice
from rota.server.metrics import Metrics


class Activity:
    """The hooks the jobs service, dispatcher and reaper call after a change is stored."""

    def __init__(self) -> None:
        self.events = Broadcaster()
        self.metrics = Metrics()

    def submitted(self, jobs: Sequence[Job], since: datetime | None) -> None:
        """Count submissions; jobs created before `since` were idempotent repeats (None:
        the submission held no idempotency key, every job is new)."""
        new = jobs if since is None else [job for job in jobs if job.created_at >= since]
        self.metrics.jobs_submitted(new)

    def started(self, jobs: Sequence[Job]) -> None:
        """Count jobs handed to a worker."""
        self.metrics.jobs_started(jobs)

    def settled(self, job: Job, kind: str) -> None:
        """Count a worker's result, failure or release (`kind`) of an attempt."""
        self.metrics.job_settled(job, released=kind == "release")

    def progress(self, job_id: str, progress: float | None, message: str | None) -> None:
        """Publish a running job's progress report."""
        notice = Notice(kind="progress", data={"id": job_id, "progress": progress})
        if message is not None:
            notice.data["message"] = message
        self.events.publish([notice])

    def cancelled(self, job: Job) -> None:
        """Count a cancellation by request."""
        self.metrics.job_cancelled(job)

    def reaped(self, jobs: Sequence[Job], expired: Sequence[Job]) -> None:
        """Count leases reaped and deadlines passed."""
        self.metrics.jobs_reaped(jobs)
        self.metrics.jobs_expired(expired)

    def worker(self, name: str, state: str, **details: Any) -> None:
        """Publish a worker joining, leaving, draining or reporting."""
        self.events.publish([worker_notice(name, state, **details)])
