"""A worker behind a slow link (200 ± 50 ms each way), cut off from the server by a
partition while it runs jobs, then healed: its jobs run again elsewhere, never two runs of
one job at once, its late results are refused by fencing, nothing is lost.

The worker runs in a network namespace whose only way to the server is a veth pair
(tests/e2e/netfaults.py); the partition takes the host's end of the pair down, so the
connection hangs as when a cable is pulled: no FIN, no reset, only silence. The tasks record
every run to a file (tests/e2e/test_never_twice.py reads them), so "twice at once" is judged
by the code's own clock, not by what Rota says. Needs root.
"""

from __future__ import annotations

import itertools
import time

import pytest

from tests.e2e.conftest import Cluster, wait_for
from tests.e2e.figures import record
from tests.e2e.netfaults import DELAY_MS, JITTER_MS, slow_link
from tests.e2e.test_never_twice import Run, read_runs, runs_of

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

LEASE_S = 3.0
HEARTBEAT_S = 0.5
HELD = 4
"""Jobs the far worker runs when it is cut off."""
JOB_S = 20.0
"""How long each of those runs: longer than the partition, so their leases are reaped and
the jobs handed to another worker while the cut-off worker's code still runs."""
QUICK = 20
"""Jobs run over the slow link before the partition."""
PARTITION_S = 10.0


def overlapping(runs: list[Run]) -> int:
    """Return how many jobs have two runs that overlap in time."""
    by_job: dict[str, list[Run]] = {}
    for run in runs:
        by_job.setdefault(run.job, []).append(run)
    twice = 0
    for job_runs in by_job.values():
        ordered = sorted(job_runs, key=lambda run: run.first)
        if any(a.last > b.first for a, b in itertools.pairwise(ordered)):
            twice += 1
    return twice


def test_a_partitioned_worker_under_delay_runs_nothing_twice_at_once(cluster: Cluster) -> None:
    records = cluster.tmp_path / "runs.txt"
    cluster.start_server(ROTA_LEASE_S=str(LEASE_S), ROTA_HEARTBEAT_S=str(HEARTBEAT_S))
    with slow_link() as link:
        url = link.forward(cluster.port)
        far = cluster.start_worker(
            "far", concurrency=HELD, servers=[url], prefix=tuple(link.command())
        )
        began = time.monotonic()
        quick = cluster.submit([{"task": "e2e.add", "args": [i, 1]} for i in range(QUICK)])
        quick_done = [cluster.wait_finished(job["id"], timeout_s=60) for job in quick]
        quick_s = time.monotonic() - began

        span = {
            "task": "e2e.span_async",
            "args": [str(records), JOB_S],
            "kwargs": {"step": 0.1},
            "backoff": {"base_s": 0.1},  # handed out again as soon as the lease is reaped
        }
        held = cluster.submit([span for _ in range(HELD)])
        wait_for(
            lambda: all(runs_of(records, job["id"]) for job in held), 30, "the far worker running"
        )
        cluster.start_worker("near", concurrency=HELD)  # idle, ready to take them over
        link.partition()
        cut_at, cut_wall = time.monotonic(), time.time()
        wait_for(
            lambda: all(cluster.job(job["id"])["worker"] == "near" for job in held),
            30,
            "the jobs handed to the near worker",
        )
        moved_s = time.monotonic() - cut_at
        time.sleep(max(0.0, PARTITION_S - (time.monotonic() - cut_at)))
        link.heal()
        healed_at = time.monotonic()
        for job in held:
            cluster.wait_finished(job["id"], timeout_s=60)
        all_done_s = time.monotonic() - cut_at
        wait_for(lambda: cluster.worker_state("far") == "online", 60, "the far worker back")
        back_s = time.monotonic() - healed_at
        time.sleep(2.0)  # the far worker's late outcomes arrive and are refused
        final = [cluster.job(job["id"]) for job in held]
        assert far.poll() is None, "the far worker must have lived through the partition"
        method = link.method

    runs = read_runs(records)
    twice = overlapping(runs)
    log = (cluster.tmp_path / "worker-far.log").read_text(errors="replace")
    refused = log.count("server refused the outcome of job")
    lost = sum(1 for job in [*quick_done, *final] if job["state"] != "succeeded")
    succeeded_twice = sum(
        1
        for job in held
        if [event["kind"] for event in cluster.events(job["id"])].count("succeeded") > 1
    )
    delay = f"{DELAY_MS} ± {JITTER_MS} ms each way ({method})"
    record("network.delay", DELAY_MS, "ms", delay)
    record("network.quick_jobs_s", round(quick_s, 2), "s", f"{QUICK} jobs over the slow link")
    record(
        "network.partition_s",
        PARTITION_S,
        "s",
        f"{HELD} jobs of {JOB_S:g} s running, lease {LEASE_S:g} s",
    )
    record("network.moved_s", round(moved_s, 2), "s", "cut to every job handed to another worker")
    record("network.recovered_s", round(all_done_s, 2), "s", "cut to every cut-off job finished")
    record("network.rejoined_s", round(back_s, 2), "s", "heal to the cut-off worker online again")
    record("network.duplicates", twice, "jobs", "run twice at once, by the tasks' own records")
    record("network.late_results_refused", refused, "outcomes", "sent after healing, fenced")
    record("network.lost", lost, "jobs", f"of {QUICK + HELD}")

    # While the link was up the far worker's leases were confirmed: its code ran on until
    # the cut, not stopped by its own fence (which acts only on a silence).
    far_runs = [run for run in runs if run.worker == "far"]
    assert len(far_runs) == HELD and all(run.last >= cut_wall for run in far_runs), far_runs
    assert lost == 0, [job for job in final if job["state"] != "succeeded"]
    assert twice == 0, runs
    assert succeeded_twice == 0
    # The jobs ended with the near worker's runs: the far worker's late outcomes were refused.
    for job in final:
        assert job["worker"] == "near", job
        (near_run,) = [run for run in runs_of(records, job["id"]) if run.worker == "near"]
        assert job["result"] == near_run.run
