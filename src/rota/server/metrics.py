"""Prometheus metrics of one server: counters of what it processed, gauges read at scrape.

Each app has its own CollectorRegistry, so two apps in one process never share figures.
Counters count transitions this server handled; a cluster total is the sum over servers.
Gauges (queue depth, oldest due age, workers) come from the store at scrape time, so they
are the same on every server: aggregate them with max(), never sum() (which would count
them once per server), as their help text says. They are the signals an autoscaler such as
KEDA reads (the queries are in docs/deploy.md).

A queue's gauges read 0 while it is empty as long as a worker listens to it (and the
default queue always); a queue nobody listens to disappears once empty, so queue names a
client invents do not pile up as series. Counters are labelled by queue and task, with at
most MAX_QUEUE_LABELS queues and MAX_TASK_LABELS tasks per server: names beyond those are
counted under OTHER_LABEL, so invented names cannot grow the series without bound. The
process_* figures and rota_build_info come with every scrape.
"""

from __future__ import annotations

import collections
from collections.abc import Iterable
from importlib import metadata
from typing import Any

from prometheus_client import (
    CONTENT_TYPE_LATEST,
    CollectorRegistry,
    Counter,
    Gauge,
    Histogram,
    Info,
    ProcessCollector,
    generate_latest,
)

from rota.jobs import Job, JobState
from rota.store.base import QueueStats, WorkerInfo

CONTENT_TYPE = CONTENT_TYPE_LATEST
LATENESS_BUCKETS_S = (0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60)
RUN_TIME_BUCKETS_S = (0.005, 0.01, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300, 1800)
_LABELS = ("queue", "task")
DEFAULT_QUEUE = "default"
MAX_QUEUE_LABELS = 100
MAX_TASK_LABELS = 500
OTHER_LABEL = "_other"
"""The label of the queues and tasks counted beyond the limits above."""
CLUSTER = " Cluster-wide, read from the store: the same on every server, aggregate with max()."


class Metrics:
    """The server's collectors, and the hooks that update them."""

    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self._queue_labels: set[str] = set()
        self._task_labels: set[str] = set()
        self._children: dict[tuple[int, tuple[str, ...]], Any] = {}
        """Each counter's and histogram's child per labels, looked up once (prometheus'
        labels() checks and locks on every call, twice per job on the hot path)."""
        ProcessCollector(registry=self.registry)
        Info("rota_build", "The Rota version this server runs.", registry=self.registry).info(
            {"version": _version()}
        )

        def counter(name: str, text: str) -> Counter:
            return Counter(name, text, _LABELS, registry=self.registry)

        self.submitted = counter("rota_jobs_submitted", "Jobs submitted through this server.")
        self.started = counter("rota_jobs_started", "Jobs this server handed to a worker.")
        self.succeeded = counter("rota_jobs_succeeded", "Jobs that succeeded.")
        self.failed = counter("rota_jobs_failed", "Jobs that failed for good.")
        self.retried = counter("rota_jobs_retried", "Failed attempts scheduled to run again.")
        self.expired = counter("rota_jobs_expired", "Jobs whose deadline passed unstarted.")
        self.reaped = counter("rota_jobs_reaped", "Attempts whose lease expired.")
        self.cancelled = counter("rota_jobs_cancelled", "Jobs cancelled through this server.")
        self.lateness = Histogram(
            "rota_job_lateness_seconds",
            "How late jobs started after their run_at (started_at - run_at).",
            ("queue",),
            buckets=LATENESS_BUCKETS_S,
            registry=self.registry,
        )
        self.run_time = Histogram(
            "rota_job_run_seconds",
            "How long attempts ran, from start to their outcome.",
            ("queue", "task"),
            buckets=RUN_TIME_BUCKETS_S,
            registry=self.registry,
        )
        self.queue_pending = Gauge(
            "rota_queue_pending",
            "Pending jobs, due or not." + CLUSTER,
            ("queue",),
            registry=self.registry,
        )
        self.queue_due = Gauge(
            "rota_queue_due",
            "Pending jobs whose run_at has come: the queue's depth." + CLUSTER,
            ("queue",),
            registry=self.registry,
        )
        self.queue_running = Gauge(
            "rota_queue_running", "Running jobs." + CLUSTER, ("queue",), registry=self.registry
        )
        self.queue_oldest_due_age = Gauge(
            "rota_queue_oldest_due_age_seconds",
            "How long the oldest due job of the queue has waited (0 when none is due)." + CLUSTER,
            ("queue",),
            registry=self.registry,
        )
        self.workers_online = Gauge(
            "rota_workers_online",
            "Workers online or draining." + CLUSTER,
            registry=self.registry,
        )
        self.workers_connected = Gauge(
            "rota_workers_connected",
            "Workers connected to this server (sum over servers for the cluster's).",
            registry=self.registry,
        )
        self.worker_slots = Gauge(
            "rota_worker_slots",
            "Job slots of online workers." + CLUSTER,
            registry=self.registry,
        )

    # --- hooks -----------------------------------------------------------------------

    def _child(self, metric: Any, *labels: str) -> Any:
        """Return the child of a counter or histogram for these labels."""
        key = (id(metric), labels)
        child = self._children.get(key)
        if child is None:
            child = self._children[key] = metric.labels(*labels)
        return child

    def _labels(self, job: Job) -> tuple[str, str]:
        """Return the (queue, task) labels of a job's counters, OTHER_LABEL past the limits."""
        return (
            _bounded(self._queue_labels, job.queue, MAX_QUEUE_LABELS),
            _bounded(self._task_labels, job.task, MAX_TASK_LABELS),
        )

    def jobs_submitted(self, jobs: Iterable[Job]) -> None:
        """Count new submissions (each counter once per submission, by how many)."""
        counts = collections.Counter((job.queue, job.task) for job in jobs)
        for (queue, task), count in counts.items():
            labels = (
                _bounded(self._queue_labels, queue, MAX_QUEUE_LABELS),
                _bounded(self._task_labels, task, MAX_TASK_LABELS),
            )
            self._child(self.submitted, *labels).inc(count)

    def jobs_started(self, jobs: Iterable[Job]) -> None:
        """Count hand-outs and observe how late each started."""
        for job in jobs:
            self._child(self.started, *self._labels(job)).inc()
            if job.started_at is not None:
                late_s = (job.started_at - job.run_at).total_seconds()
                self._child(self.lateness, self._labels(job)[0]).observe(max(0.0, late_s))

    def job_settled(self, job: Job, *, released: bool = False) -> None:
        """Count a worker's outcome for an attempt (a release counts as nothing)."""
        if released:
            return
        labels = self._labels(job)
        if job.state is JobState.SUCCEEDED:
            self._child(self.succeeded, *labels).inc()
        elif job.state is JobState.FAILED:
            self._child(self.failed, *labels).inc()
        elif job.state is JobState.PENDING:
            self._child(self.retried, *labels).inc()
        if job.started_at is not None:
            ended_at = job.finished_at or job.updated_at
            self._child(self.run_time, *labels).observe(
                max(0.0, (ended_at - job.started_at).total_seconds())
            )

    def jobs_reaped(self, jobs: Iterable[Job]) -> None:
        """Count attempts lost with their lease, as retries or final failures."""
        for job in jobs:
            labels = self._labels(job)
            self._child(self.reaped, *labels).inc()
            if job.state is JobState.FAILED:
                self._child(self.failed, *labels).inc()
            elif job.state is JobState.PENDING:
                self._child(self.retried, *labels).inc()

    def jobs_expired(self, jobs: Iterable[Job]) -> None:
        """Count jobs whose deadline passed before they started."""
        for job in jobs:
            self._child(self.expired, *self._labels(job)).inc()

    def job_cancelled(self, job: Job) -> None:
        """Count a cancellation."""
        self.cancelled.labels(*self._labels(job)).inc()

    # --- scrape ----------------------------------------------------------------------

    def render(self, queues: list[QueueStats], workers: list[WorkerInfo], connected: int) -> bytes:
        """Set the gauges from the store's figures and return the exposition text."""
        for gauge in (
            self.queue_pending,
            self.queue_due,
            self.queue_running,
            self.queue_oldest_due_age,
        ):
            gauge.clear()  # a queue nobody listens to disappears once empty, never goes stale
        online = [worker for worker in workers if worker.state != "offline"]
        listened = {DEFAULT_QUEUE} | {queue for worker in online for queue in worker.queues}
        for name in sorted(listened - {queue.queue for queue in queues}):
            for gauge in (
                self.queue_pending,
                self.queue_due,
                self.queue_running,
                self.queue_oldest_due_age,
            ):
                gauge.labels(name).set(0)
        for queue in queues:
            self.queue_pending.labels(queue.queue).set(queue.pending)
            self.queue_due.labels(queue.queue).set(queue.due)
            self.queue_running.labels(queue.queue).set(queue.running)
            self.queue_oldest_due_age.labels(queue.queue).set(queue.oldest_due_age_s or 0.0)
        self.workers_online.set(len(online))
        self.worker_slots.set(sum(worker.capacity for worker in online))
        self.workers_connected.set(connected)
        return generate_latest(self.registry)


def _version() -> str:
    try:
        return metadata.version("rota")
    except metadata.PackageNotFoundError:  # run from a source tree that was not installed
        return "unknown"


def _bounded(seen: set[str], name: str, limit: int) -> str:
    """Return name while fewer than `limit` names were seen (or it is one of them), else
    OTHER_LABEL; `seen` grows by the names let through."""
    if name in seen:
        return name
    if len(seen) >= limit:
        return OTHER_LABEL
    seen.add(name)
    return name
