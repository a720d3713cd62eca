"""Recovery: one of two one-slot workers is SIGKILLed while it runs a job.

`jobs` jobs of `seconds` each are submitted to 2 workers of 1 slot; `kill_after_s` after the
submission one worker's whole process group gets SIGKILL. Figures: jobs that succeeded, jobs
started more than once, re-starts that began while the first attempt still ran (run twice at
once), and how long after the kill the lost job started again (read from the jobs' logs).
"""

from __future__ import annotations

import signal
import time
from dataclasses import dataclass
from datetime import datetime

from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.latency import wait_finished
from rota.bench.progress import bar
from rota.bench.results import Figure, WorkloadResult
from rota.jobs import JobState

QUEUE = "bench"


@dataclass(frozen=True, kw_only=True, slots=True)
class RecoveryParams:
    """How many jobs, how long each runs, and when the worker is killed."""

    jobs: int = 40
    seconds: float = 3.0
    kill_after_s: float = 4.0


def run(store: StoreChoice, params: RecoveryParams, *, redis_url: str | None) -> WorkloadResult:
    """Run the jobs, kill a worker, and return what became of them."""
    with RotaCluster(store=store, redis_url=redis_url) as cluster:
        client = cluster.start_server()
        workers = cluster.start_workers(2, concurrency=1, queue=QUEUE)
        created = client.submit_many(
            [{"task": "bench.sleep", "args": [params.seconds], "queue": QUEUE}] * params.jobs
        )
        submitted = time.monotonic()
        time.sleep(max(0.0, params.kill_after_s - (time.monotonic() - submitted)))
        workers[0].signal_group(signal.SIGKILL)
        killed_at = time.time()
        completed = 0
        starts: dict[str, list[float]] = {}
        timeout_s = params.jobs * params.seconds + 300.0
        with bar(f"{store.label} recovery: jobs finished", params.jobs) as progress:
            for job in created:
                job_id = str(job["id"])
                done = wait_finished(client, job_id, timeout_s)
                progress.advance()
                completed += done["state"] == JobState.SUCCEEDED
                starts[job_id] = [
                    datetime.fromisoformat(str(event["at"])).timestamp()
                    for event in client.events(job_id)
                    if event["kind"] == "started"
                ]
    restarted = {job_id: sorted(times) for job_id, times in starts.items() if len(times) > 1}
    overlapping = sum(1 for times in restarted.values() if times[1] < killed_at)
    reruns = [times[1] - killed_at for times in restarted.values() if times[1] >= killed_at]
    return WorkloadResult(
        workload="recovery",
        system=store.label,
        figures={
            "completed": Figure.one(completed),
            "run_twice": Figure.one(len(restarted)),
            "overlapping": Figure.one(overlapping),
            "rerun_after_s": Figure.one(min(reruns) if reruns else None),
        },
        params={
            "jobs": params.jobs,
            "seconds": params.seconds,
            "kill_after_s": params.kill_after_s,
        },
    )
