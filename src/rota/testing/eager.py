"""Eager mode: `task.submit()` runs the job here and now, with no server and no worker.

A submission goes through what a real one goes through on its way: the client's checks of
the arguments and options, then the server's validation of the submission (the same
JobSubmit model, so a bad option is refused with the same words). The job then runs in
this process through the worker's executor (the same argument binding, timeout, result
checks and `current_job()`), and a failed attempt with attempts left runs again, as a
worker would run it after the backoff. The handle's `result()` reads the finished job, so
a failure raises JobFailed with the task's traceback, as it does against a server.

What eager mode leaves out: time. `delay`, `run_at` and the backoff between attempts are
recorded on the job but not waited for; `target` and `queue` pick no worker; schedules do
not fire. Use the `rota_app` fixture (a real server and worker in this process) for those.
"""

from __future__ import annotations

import asyncio
import contextlib
import json
import threading
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import replace
from typing import Any

from rota.app import Rota
from rota.client import JobData, job_body
from rota.clock import SYSTEM_CLOCK, Clock
from rota.context import JobContext
from rota.errors import IdempotencyConflict, InvalidTransition, JobNotFound, UnknownTask
from rota.ids import new_job_id
from rota.jobs import Event, Job, JobSpec, JobState
from rota.protocol import JobOrder
from rota.safe_text import excerpt
from rota.server.api.schemas import parse_submissions
from rota.store.common import fingerprint
from rota.tasks.builtin import builtin_registry
from rota.tasks.hosts import HostAllowlist
from rota.tasks.registry import TaskRegistry
from rota.types import JSON, JobId
from rota.worker.executor import Executor, Outcome

EAGER_WORKER = "eager"
"""The worker name eager jobs record as the one that ran them."""


class EagerRunner:
    """Runs each submitted job at once, in this process, and keeps the finished jobs.

    `jobs` and `events(job_id)` let a test look at what ran. Thread-safe; each job runs in
    a thread of its own with its own event loop, so submit() works from sync code and from
    inside a running event loop alike.
    """

    def __init__(
        self,
        registry: TaskRegistry,
        *,
        allow_shell: bool = False,
        allow_http: Sequence[str] = (),
        clock: Clock = SYSTEM_CLOCK,
    ) -> None:
        """`allow_shell` and `allow_http` are a worker's --allow-shell and --allow-http."""
        self.registry = builtin_registry()
        self.registry.merge(registry)
        self._clock = clock
        self._executor = Executor(
            self.registry,
            worker_name=EAGER_WORKER,
            allow_shell=allow_shell,
            allow_http=HostAllowlist.parse(allow_http),
        )
        self._lock = threading.Lock()
        self._jobs: dict[JobId, Job] = {}
        self._events: dict[JobId, list[Event]] = {}
        self._keys: dict[str, tuple[JobId, str]] = {}
        """idempotency key -> (the job holding it, its submission's fingerprint)"""

    @property
    def jobs(self) -> list[Job]:
        """Return every job submitted so far, oldest first."""
        with self._lock:
            return list(self._jobs.values())

    def events(self, job_id: JobId) -> list[Event]:
        """Return the job's execution log: submitted, started, retrying, log lines, the end."""
        with self._lock:
            if job_id not in self._events:
                raise JobNotFound(f"no job has the id {excerpt(job_id)}")
            return list(self._events[job_id])

    def submit(
        self,
        task: str,
        args: Sequence[JSON] = (),
        kwargs: Mapping[str, JSON] | None = None,
        options: Mapping[str, Any] | None = None,
    ) -> JobData:
        """Check the submission as client and server would, run the job, return it finished.

        Raises InvalidInput / InvalidValue for a bad argument or option, UnknownTask for a
        task the app does not define, IdempotencyConflict as a server would.
        """
        body = job_body(task, args, kwargs, **dict(options or {}))
        # The body crosses JSON as it would on its way to a server, then meets its checks.
        (item,), _ = parse_submissions(json.loads(json.dumps(body)), max_bulk=1)
        now = self._clock.now_utc()
        spec = item.to_spec(now)
        if spec.task not in self.registry:
            raise UnknownTask(
                f"unknown task {excerpt(spec.task)}: the app under test does not define it "
                f"(known: {', '.join(sorted(self.registry.names()))})"
            )
        existing = self._existing(spec)
        if existing is not None:
            return existing.to_dict()
        job = self._new_job(spec)
        return self._in_thread(job).to_dict()

    def get_job(self, job_id: JobId) -> JobData:
        """Return the job (JobNotFound for an unknown id)."""
        with self._lock:
            job = self._jobs.get(job_id)
        if job is None:
            raise JobNotFound(f"no job has the id {excerpt(job_id)}")
        return job.to_dict()

    def cancel(self, job_id: JobId) -> JobData:
        """Refuse as a server refuses a finished job: eager jobs have finished on submit."""
        job = self.get_job(job_id)
        raise InvalidTransition(
            f"job {job_id} has finished ({job['state']}); it cannot be cancelled"
        )

    def _existing(self, spec: JobSpec) -> Job | None:
        if spec.idempotency_key is None:
            return None
        with self._lock:
            held = self._keys.get(spec.idempotency_key)
        if held is None:
            return None
        job_id, earlier = held
        if earlier != fingerprint(spec):  # the stores' rule: all but the times must match
            raise IdempotencyConflict(
                f"idempotency_key {excerpt(spec.idempotency_key)} is held by job {job_id}, "
                "submitted with a different task, arguments or options"
            )
        with self._lock:
            return self._jobs[job_id]

    def _new_job(self, spec: JobSpec) -> Job:
        now = self._clock.now_utc()
        job = Job(
            id=new_job_id(),
            task=spec.task,
            args=spec.args,
            kwargs=spec.kwargs,
            queue=spec.queue,
            priority=spec.priority,
            state=JobState.PENDING,
            run_at=spec.run_at or now,
            target=spec.target,
            max_attempts=spec.max_attempts,
            backoff=spec.backoff,
            timeout_s=spec.timeout_s,
            deadline_at=spec.deadline_at,
            idempotency_key=spec.idempotency_key,
            schedule_id=None,
            attempt=0,
            lease_token=None,
            lease_expires_at=None,
            worker=None,
            created_at=now,
            updated_at=now,
        )
        with self._lock:
            self._jobs[job.id] = job
            self._events[job.id] = []
            if spec.idempotency_key is not None:
                self._keys[spec.idempotency_key] = (job.id, fingerprint(spec))
        self._event(job, "submitted")
        return job

    def _in_thread(self, job: Job) -> Job:
        """Run the job to its end in a thread with an event loop of its own; return it."""
        finished: list[Job] = []
        failure: list[BaseException] = []

        def run() -> None:
            try:
                finished.append(asyncio.run(self._run(job)))
            except BaseException as exc:  # handed to the caller's thread below
                failure.append(exc)

        thread = threading.Thread(target=run, name=f"rota-eager {job.id}", daemon=True)
        thread.start()
        thread.join()
        if failure:
            raise failure[0]
        return finished[0]

    async def _run(self, job: Job) -> Job:
        """Run attempts until one succeeds, one fails for good or none are left."""
        if job.deadline_at is not None and job.deadline_at <= self._clock.now_utc():
            return self._finish(job, state=JobState.EXPIRED, kind="expired")
        while True:
            now = self._clock.now_utc()
            job = replace(
                job,
                state=JobState.RUNNING,
                attempt=job.attempt + 1,
                worker=EAGER_WORKER,
                started_at=now,
                updated_at=now,
                progress=None,
                progress_message=None,
            )
            self._store(job)
            self._event(job, "started", f"attempt {job.attempt} of {job.max_attempts}")
            outcome = await self._attempt(job)
            if outcome.ok:
                return self._finish(
                    job, state=JobState.SUCCEEDED, kind="succeeded", result=outcome.result
                )
            if outcome.retryable and job.attempt < job.max_attempts:
                job = replace(job, state=JobState.PENDING, error=outcome.error)
                self._store(job)
                self._event(job, "retrying", outcome.error)
                continue
            return self._finish(
                job,
                state=JobState.FAILED,
                kind="failed",
                error=outcome.error,
                traceback=outcome.traceback,
            )

    async def _attempt(self, job: Job) -> Outcome:
        order = JobOrder(
            job_id=job.id,
            token=f"eager-{job.attempt}",
            task=job.task,
            args=job.args,
            kwargs=job.kwargs,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            timeout_s=job.timeout_s,
            queue=job.queue,
        )
        context = JobContext(
            job_id=job.id,
            task=job.task,
            attempt=job.attempt,
            max_attempts=job.max_attempts,
            on_progress=lambda fraction, message: self._progress(job.id, fraction, message),
            on_log=lambda line, stream: self._event(job, "log", line),
        )
        return await self._executor.attempt(order, context).run()

    def _finish(
        self,
        job: Job,
        *,
        state: JobState,
        kind: str,
        result: JSON = None,
        error: str | None = None,
        traceback: str | None = None,
    ) -> Job:
        now = self._clock.now_utc()
        with self._lock:
            progress = self._jobs[job.id].progress
        job = replace(
            job,
            state=state,
            result=result,
            error=error,
            traceback=traceback,
            progress=progress,
            finished_at=now,
            updated_at=now,
        )
        self._store(job)
        self._event(job, kind, error)
        return job

    def _store(self, job: Job) -> None:
        with self._lock:
            self._jobs[job.id] = job

    def _progress(self, job_id: JobId, fraction: float | None, message: str | None) -> None:
        with self._lock:
            self._jobs[job_id] = replace(
                self._jobs[job_id], progress=fraction, progress_message=message
            )
            job = self._jobs[job_id]
        self._event(job, "progress", message)

    def _event(self, job: Job, kind: str, message: str | None = None) -> None:
        event = Event(
            job_id=job.id,
            attempt=job.attempt,
            at=self._clock.now_utc(),
            kind=kind,
            worker=job.worker,
            message=message,
        )
        with self._lock:
            self._events[job.id].append(event)


@contextlib.contextmanager
def eager(
    app: Rota, *, allow_shell: bool = False, allow_http: Sequence[str] = ()
) -> Iterator[EagerRunner]:
    """Run the app's submissions eagerly inside the `with` block; yield the runner.

        with eager(app) as runner:
            assert add.submit(1, 2).result() == 3
            assert runner.jobs[0].attempt == 1

    The app's tasks, and Rota's built-in ones, are the tasks that can be submitted; as on a
    worker, rota.shell needs `allow_shell` and rota.http the hosts it may call in `allow_http`.
    """
    runner = EagerRunner(app.registry, allow_shell=allow_shell, allow_http=allow_http)
    previous = app.use_runner(runner)
    try:
        yield runner
    finally:
        app.use_runner(previous)
