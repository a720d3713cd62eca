"""Why no online worker can run a pending job: the warning shown beside it.

A pure function of the job and the registered workers, so the API, the CLI and the
dashboard all say the same. Only workers whose state is `online` count: a draining worker
takes no new jobs, an offline one is gone.
"""

from __future__ import annotations

from collections.abc import Sequence

from rota.jobs import Job, JobState
from rota.safe_text import excerpt
from rota.store.base import WorkerInfo


def unrunnable_reason(job: Job, workers: Sequence[WorkerInfo]) -> str | None:
    """Return why no online worker can run the pending job, or None when one can (or the
    job is not pending). Checked in the order a worker is matched: target, task, queue."""
    if job.state is not JobState.PENDING:
        return None
    able = [worker for worker in workers if worker.state == "online"]
    if not able:
        return "no worker is online"
    if job.target is not None:
        able = [worker for worker in able if job.target in (worker.name, *worker.tags)]
        if not able:
            return f"no online worker is named or tagged {excerpt(job.target)}"
    which = "with that target " if job.target is not None else ""
    able = [worker for worker in able if job.task in worker.tasks]
    if not able:
        return f"no online worker {which}announced the task {excerpt(job.task)}"
    if not any(job.queue in worker.queues for worker in able):
        return (
            f"no online worker {which}that runs {excerpt(job.task)} serves the queue "
            f"{excerpt(job.queue)}"
        )
    return None
