"""What this server did, told once: each change feeds the live notices and the metrics."""

from __future__ import annotations

from collections.abc import Sequence
from datetime import datetime
from typing import Any

from rota.jobs import Job
from rota.server.events import Broadcaster, Notice, worker_notice
from rota.server.metrics import Metrics


class Activity:
    """The hooks the API, dispatcher, gateway and reaper call after a change is stored."""

    def __init__(self) -> None:
        self.events = Broadcaster()
        self.metrics = Metrics()

    def submitted(self, jobs: Sequence[Job], since: datetime) -> None:
        """Record submissions; jobs created before `since` were idempotent repeats."""
        new = [job for job in jobs if job.created_at >= since]
        self.metrics.jobs_submitted(new)
        self.events.publish_jobs(new)

    def started(self, jobs: Sequence[Job]) -> None:
        """Record jobs handed to a worker."""
        self.metrics.jobs_started(jobs)
        self.events.publish_jobs(jobs)

    def settled(self, job: Job, kind: str) -> None:
        """Record a worker's result, failure or release (`kind`) of an attempt."""
        self.metrics.job_settled(job, released=kind == "release")
        self.events.publish_jobs([job])

    def changed(self, job: Job) -> None:
        """Record a job changed by request (updated, retried, progress)."""
        self.events.publish_jobs([job])

    def progress(self, job_id: str, progress: float | None, message: str | None) -> None:
        """Record a running job's progress report."""
        notice = Notice(kind="progress", data={"id": job_id, "progress": progress})
        if message is not None:
            notice.data["message"] = message
        self.events.publish([notice])

    def cancelled(self, job: Job) -> None:
        """Record a cancellation by request."""
        self.metrics.job_cancelled(job)
        self.events.publish_jobs([job])

    def reaped(self, jobs: Sequence[Job], expired: Sequence[Job]) -> None:
        """Record leases reaped and deadlines passed."""
        self.metrics.jobs_reaped(jobs)
        self.metrics.jobs_expired(expired)
        self.events.publish_jobs([*jobs, *expired])

    def worker(self, name: str, state: str, **details: Any) -> None:
        """Record a worker joining, leaving, draining or reporting."""
        self.events.publish([worker_notice(name, state, **details)])
