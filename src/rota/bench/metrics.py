"""The figures each workload reports, in the order tables show them."""

from __future__ import annotations

from rota.bench.results import Metric

WORKLOADS: dict[str, tuple[Metric, ...]] = {
    "throughput": (
        Metric(
            key="single_per_s",
            label="single submits from one client, jobs/s",
            higher_is_better=True,
        ),
        Metric(
            key="single_relaxed_per_s",
            label="single submits, durability relaxed (answer before the disk flush), jobs/s",
            higher_is_better=True,
        ),
        Metric(key="bulk_per_s", label="bulk submit, jobs/s", higher_is_better=True),
        Metric(
            key="drain_per_s", label="drain with 2 worker processes, jobs/s", higher_is_better=True
        ),
        Metric(
            key="drain_prefetch_per_s",
            label="drain with 2 worker processes, each with --prefetch 16 (Rota), jobs/s",
            higher_is_better=True,
        ),
    ),
    "latency": (
        Metric(
            key="p50_ms",
            label="submit to start at a steady rate, p50 ms",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="p99_ms",
            label="submit to start at a steady rate, p99 ms",
            higher_is_better=False,
            digits=1,
        ),
    ),
    "punctuality": (
        Metric(
            key="late_p50_ms",
            label="due at exact times: lateness p50 ms",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="late_p99_ms",
            label="due at exact times: lateness p99 ms",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="late_max_ms",
            label="due at exact times: lateness max ms",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="early",
            compared=False,
            label="due at exact times: started early",
            higher_is_better=False,
        ),
        Metric(key="ran", compared=False, label="due at exact times: ran", higher_is_better=True),
    ),
    "recovery": (
        Metric(
            key="completed",
            label="one of 2 workers SIGKILLed: jobs completed",
            higher_is_better=True,
        ),
        Metric(
            key="run_twice",
            compared=False,
            label="one of 2 workers SIGKILLed: jobs started twice",
            higher_is_better=False,
        ),
        Metric(
            key="overlapping",
            compared=False,
            label="one of 2 workers SIGKILLed: jobs run twice at once",
            higher_is_better=False,
        ),
        Metric(
            key="rerun_after_s",
            label="one of 2 workers SIGKILLed: lost job re-ran after, s",
            higher_is_better=False,
            digits=1,
        ),
    ),
    "memory": (
        Metric(
            key="worker_idle_mib",
            label="RSS of the largest idle worker process, MiB",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="worker_after_mib",
            label="RSS of the largest worker process after the jobs, MiB",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="server_idle_mib",
            label="server RSS before the jobs, MiB",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="server_after_mib",
            label="server RSS after the jobs (--memory-jobs), MiB",
            higher_is_better=False,
            digits=1,
        ),
        Metric(
            key="server_growth_mib",
            label="server RSS growth per 10,000 jobs, MiB",
            compared=False,
            higher_is_better=False,
            digits=2,
        ),
        Metric(
            key="server_1m_mib",
            label="server RSS after 1,000,000 jobs (extrapolated below that), MiB",
            higher_is_better=False,
            digits=1,
        ),
    ),
    "scale": (),
    "soak": (
        Metric(key="rate_per_s", label="jobs submitted per second", higher_is_better=True),
        Metric(key="jobs", compared=False, label="jobs", higher_is_better=True),
        Metric(key="failed", compared=False, label="jobs failed", higher_is_better=False),
        Metric(
            key="drain_after_s",
            label="last job done after the stream ended, s",
            higher_is_better=False,
            digits=1,
        ),
        *(
            Metric(
                key=f"{who}_{when}_mib",
                label=f"{label} RSS, {words}, MiB",
                higher_is_better=False,
                digits=1,
            )
            for who, label in (("server", "server"), ("worker", "largest worker"))
            for when, words in (
                ("first", "first second"),
                ("max", "highest"),
                ("last", "last second"),
                ("growth", "growth from the middle third to the last"),
            )
        ),
    ),
}
"""Every workload's figures; scale's rows depend on the fill levels and are built there."""

ALL_WORKLOADS = ("throughput", "latency", "punctuality", "recovery", "memory", "scale", "soak")
DEFAULT_WORKLOADS = ALL_WORKLOADS[:-1]
"""What `rota bench` runs unless told: all but the soak, which takes ten minutes alone."""


def metric(workload: str, key: str) -> Metric:
    """Return the Metric of a workload's figure, or a plain one for a figure not listed."""
    for known in WORKLOADS.get(workload, ()):
        if known.key == key:
            return known
    return Metric(key=key, label=key.replace("_", " "), higher_is_better=False, digits=1)
