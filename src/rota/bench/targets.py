"""Issue 10's floors and aims, checked against one run's results.

Each row says the floor, the aim, what Rota measured and whether the floor is met; a row
whose figures the run did not measure says so.
"""

from __future__ import annotations

from rota.bench.report import Grid
from rota.bench.results import WorkloadResult

SQLITE = "rota (sqlite)"
POSTGRES = "rota (postgres)"


def _value(results: list[WorkloadResult], workload: str, system: str, key: str) -> float | None:
    for result in results:
        if result.workload == workload and result.system == system:
            figure = result.figures.get(key)
            return None if figure is None else figure.value
    return None


def _best_peer(results: list[WorkloadResult], workload: str, key: str) -> tuple[str, float] | None:
    best: tuple[str, float] | None = None
    for result in results:
        if result.workload != workload or result.system.startswith("rota"):
            continue
        figure = result.figures.get(key)
        if figure is not None and figure.value is not None:
            if best is None or figure.value > best[1]:
                best = (result.system, figure.value)
    return best


def _verdict(met: bool | None) -> str:
    return "not measured" if met is None else ("met" if met else "**not met**")


def targets_grid(results: list[WorkloadResult]) -> Grid:
    """Return one row per target: floor, aim, Rota's figure against them, and the verdict."""
    rows: list[list[str]] = []

    def drain_row(system: str, floor_x: float, aim_x: float, name: str) -> None:
        mine = _value(results, "throughput", system, "drain_per_s")
        best = _best_peer(results, "throughput", "drain_per_s")
        if mine is None or best is None:
            rows.append([name, f"{floor_x:g} x best peer", f"{aim_x:g} x", "", _verdict(None)])
            return
        times = mine / best[1]
        rows.append(
            [
                name,
                f"{floor_x:g} x best peer",
                f"{aim_x:g} x",
                f"{mine:,.0f}/s = {times:.2f} x {best[0]} ({best[1]:,.0f}/s)",
                _verdict(times >= floor_x),
            ]
        )

    drain_row(SQLITE, 1.5, 5, "SQLite drain")
    single = _value(results, "throughput", SQLITE, "single_per_s")
    best_single = _best_peer(results, "throughput", "single_per_s")
    rows.append(
        [
            "single submits, durable (SQLite)",
            "2,500/s",
            f"best peer ({best_single[0]}: {best_single[1]:,.0f}/s)"
            if best_single
            else "best peer",
            "" if single is None else f"{single:,.0f}/s",
            _verdict(None if single is None else single >= 2500),
        ]
    )
    relaxed = _value(results, "throughput", SQLITE, "single_relaxed_per_s")
    rows.append(
        [
            "single submits, durability relaxed (SQLite)",
            "",
            f"best peer ({best_single[0]}: {best_single[1]:,.0f}/s)"
            if best_single
            else "best peer",
            "" if relaxed is None else f"{relaxed:,.0f}/s",
            ""
            if relaxed is None or best_single is None
            else ("aim met" if relaxed >= best_single[1] else "aim not met"),
        ]
    )
    bulk = _value(results, "throughput", SQLITE, "bulk_per_s")
    rows.append(
        [
            "bulk submit (SQLite)",
            "20,000/s",
            "",
            "" if bulk is None else f"{bulk:,.0f}/s",
            _verdict(None if bulk is None else bulk >= 20_000),
        ]
    )
    p99 = _value(results, "punctuality", SQLITE, "late_p99_ms")
    worst = _value(results, "punctuality", SQLITE, "late_max_ms")
    early = _value(results, "punctuality", SQLITE, "early")
    celery = next(
        (r for r in results if r.workload == "punctuality" and r.system.startswith("celery")), None
    )
    celery_p99 = _value(results, "punctuality", celery.system, "late_p99_ms") if celery else None
    punctual = (
        None
        if p99 is None or worst is None or early is None
        else (p99 <= 5 and worst <= 20 and early == 0)
    )
    rows.append(
        [
            "punctuality (SQLite)",
            "p99 <= 5 ms, max <= 20 ms, none early",
            "p99 at or below Celery's"
            + (f" ({celery_p99:.1f} ms)" if celery_p99 is not None else ""),
            "" if p99 is None else f"p99 {p99:.1f} ms, max {worst or 0:.1f} ms, {early:.0f} early",
            _verdict(punctual),
        ]
    )
    for system in (SQLITE, POSTGRES):
        done = _value(results, "recovery", system, "completed")
        rerun = _value(results, "recovery", system, "rerun_after_s")
        overlap = _value(results, "recovery", system, "overlapping")
        met = (
            None
            if done is None
            else (done >= 40 and rerun is not None and rerun <= 3 and not overlap)
        )
        rerun_text = "never" if rerun is None else f"{rerun:.1f} s"
        rows.append(
            [
                f"recovery ({system.removeprefix('rota (').rstrip(')')})",
                "40/40, lost job re-run <= 3 s after the kill, none twice at once",
                "",
                ""
                if done is None
                else f"{done:.0f}/40, re-run after {rerun_text}, {overlap or 0:.0f} twice at once",
                _verdict(met),
            ]
        )
    for system in (SQLITE, POSTGRES):
        base = _value(results, "scale", system, "claim p50 ms, 10,000 finished")
        for level in ("10,000,000 finished", "1,000,000 pending"):
            claim = _value(results, "scale", system, f"claim p50 ms, {level}")
            ratio = None if base is None or claim is None or base <= 0 else claim / base
            rows.append(
                [
                    f"scale, claim p50 with {level} ({system.removeprefix('rota (').rstrip(')')})",
                    "<= 1.5 x at 10k finished",
                    "",
                    "" if ratio is None else f"{claim:.1f} ms = {ratio:.2f} x {base:.1f} ms",
                    _verdict(None if ratio is None else ratio <= 1.5),
                ]
            )
    drain_row(POSTGRES, 1.0, 2, "PostgreSQL drain")
    pg = _value(results, "throughput", POSTGRES, "drain_per_s")
    lite = _value(results, "throughput", SQLITE, "drain_per_s")
    rows.append(
        [
            "PostgreSQL drain against SQLite's",
            "",
            ">= half of SQLite's",
            "" if pg is None or lite is None else f"{pg / lite:.2f} x SQLite's",
            "" if pg is None or lite is None else ("aim met" if pg >= lite / 2 else "aim not met"),
        ]
    )
    for system in (SQLITE, POSTGRES):
        rows.append(_memory_row(results, system))
    return Grid(header=["target", "floor", "aim", "last run", "floor met?"], rows=rows)


def _memory_row(results: list[WorkloadResult], system: str) -> list[str]:
    """The memory target: each idle worker <= 50 MB, the server <= 80 MB after 1M jobs.

    MB here is MiB, as the bench reports RSS; the server's figure is extrapolated from a
    smaller run by its fitted growth per job, or is its last reading when that growth is
    within noise (`rota.bench.memory.estimate_growth`; the row says which, and then what
    the readings do not rule out).
    """
    name = f"memory ({system.removeprefix('rota (').rstrip(')')})"
    floor = "idle worker <= 50 MB each, server <= 80 MB after 1M jobs"
    worker = _value(results, "memory", system, "worker_idle_mib")
    server = _value(results, "memory", system, "server_1m_mib")
    if worker is None or server is None:
        return [name, floor, "", "", _verdict(None)]
    result = next(r for r in results if r.workload == "memory" and r.system == system)
    jobs = int(result.params.get("jobs", 0))
    how = "measured" if jobs >= 1_000_000 else f"extrapolated from {jobs:,} jobs"
    if jobs < 1_000_000 and result.params.get("server_growth_counts") is False:
        how += ": no growth beyond noise"
        upper = result.params.get("server_1m_upper_mib")
        if isinstance(upper, int | float):
            how += f", {upper:.1f} MiB not ruled out"
    return [
        name,
        floor,
        "",
        f"worker {worker:.1f} MiB, server {server:.1f} MiB after 1M ({how})",
        _verdict(worker <= 50 and server <= 80),
    ]
