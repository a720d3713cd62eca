"""Scale: submit and claim latency as the store grows (finished rows, then a pending backlog).

For each level a fresh store is filled by bulk SQL (see `fill`) with that many finished jobs,
or with a backlog of due pending jobs on a queue no worker takes; then a server and one idle
worker start, and jobs are submitted one at a time at a steady rate as in `latency`. Submit
is the client's call; claim is submit to start. Levels above `max_rows` are left out.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

from rota.bench import latency
from rota.bench.cluster import RotaCluster, StoreChoice
from rota.bench.fill import fill_postgres, fill_sqlite
from rota.bench.progress import bar
from rota.bench.results import Figure, WorkloadResult, percentile

QUEUE = "bench"
FINISHED_LEVELS = (10_000, 1_000_000, 10_000_000)
PENDING_LEVEL = 1_000_000


@dataclass(frozen=True, kw_only=True, slots=True)
class ScaleParams:
    """The largest fill, and the jobs submitted at each level."""

    max_rows: int = 10_000_000
    jobs: int = 200
    rate: float = 20.0


def levels(max_rows: int) -> list[tuple[str, int]]:
    """Return (state, rows) of each level: finished fills up to max_rows, then one backlog."""
    finished = [rows for rows in FINISHED_LEVELS if rows <= max_rows] or [max_rows]
    return [("succeeded", rows) for rows in finished] + [("pending", min(PENDING_LEVEL, max_rows))]


def run(store: StoreChoice, params: ScaleParams, *, redis_url: str | None) -> WorkloadResult:
    """Measure every level on a fresh store and return p50/p99 figures keyed by level."""
    figures: dict[str, Figure] = {}
    for state, rows in levels(params.max_rows):
        what = f"{rows:,} {'finished' if state == 'succeeded' else 'pending'}"
        with RotaCluster(store=store, redis_url=redis_url) as cluster:
            client = cluster.start_server()
            cluster.register_tasks()
            template = client.submit("bench.noop", queue="bench-fill")
            cluster.stop_server()
            with bar(f"{store.label} scale: filling {what}", None):
                queue = "bench-done" if state == "succeeded" else "bench-backlog"
                if cluster.schema is None:
                    fill_sqlite(
                        Path(cluster.db),
                        template_id=str(template["id"]),
                        count=rows,
                        state=state,
                        queue=queue,
                        first=1,
                    )
                else:
                    assert store.dsn is not None
                    fill_postgres(
                        store.dsn,
                        cluster.schema,
                        template_id=str(template["id"]),
                        count=rows,
                        state=state,
                        queue=queue,
                        first=1,
                    )
            client = cluster.start_server()
            cluster.start_workers(1, concurrency=8, queue=QUEUE)
            samples = latency.measure(
                client,
                jobs=params.jobs,
                rate=params.rate,
                queue=QUEUE,
                label=f"{store.label} scale, {what}",
            )
        submit_ms = [value * 1000 for value in samples.submit_s]
        claim_ms = [value * 1000 for value in samples.start_s]
        figures[f"submit p50 ms, {what}"] = Figure.one(percentile(submit_ms, 0.5))
        figures[f"claim p50 ms, {what}"] = Figure.one(percentile(claim_ms, 0.5))
        figures[f"claim p99 ms, {what}"] = Figure.one(percentile(claim_ms, 0.99))
    return WorkloadResult(
        workload="scale",
        system=store.label,
        figures=figures,
        params={
            "max_rows": params.max_rows,
            "jobs_per_level": params.jobs,
            "rate_per_s": params.rate,
        },
    )
