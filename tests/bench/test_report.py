"""The bench's tables: ratios point the right way, counts are not compared, spreads shown."""

from __future__ import annotations

from pathlib import Path

from rota.bench.doc import BEGIN, END, write_between_markers
from rota.bench.report import figures_grid, ratios_grid
from rota.bench.results import Figure, WorkloadResult, percentile, ratio


def result(system: str, workload: str, **values: float) -> WorkloadResult:
    return WorkloadResult(
        workload=workload,
        system=system,
        figures={key: Figure.one(value) for key, value in values.items()},
    )


def test_ratio_is_above_one_when_rota_is_better_either_way() -> None:
    assert ratio(200.0, 100.0, higher_is_better=True) == 2.0
    assert ratio(5.0, 10.0, higher_is_better=False) == 2.0
    assert ratio(None, 10.0, higher_is_better=False) is None
    assert ratio(0.0, 10.0, higher_is_better=False) is None


def test_nearest_rank_percentile() -> None:
    values = [float(v) for v in range(1, 101)]
    assert percentile(values, 0.5) == 50.0
    assert percentile(values, 0.99) == 99.0
    assert percentile([], 0.5) is None


def test_grids_put_rota_first_and_compare_rates_but_not_counts() -> None:
    results = [
        result("celery 5", "punctuality", late_p99_ms=4.0, early=0),
        result("rota (sqlite)", "punctuality", late_p99_ms=2.0, early=0),
        result("rota (sqlite)", "throughput", single_per_s=300.0),
        result("celery 5", "throughput", single_per_s=600.0),
    ]
    grid = figures_grid(results)
    assert grid.header == ["", "rota (sqlite)", "celery 5"]
    assert [row[0].split(":")[0] for row in grid.rows] == [
        "throughput",
        "punctuality",
        "punctuality",
    ]
    ratios = ratios_grid(results)
    assert ratios is not None
    cells = {row[0]: row[1] for row in ratios.rows}
    assert cells["throughput: single submits from one client, jobs/s"] == "0.50\u00d7"
    assert cells["punctuality: due at exact times: lateness p99 ms"] == "2.00\u00d7"
    assert not any("started early" in name for name in cells)


def test_a_figure_of_several_runs_shows_its_spread() -> None:
    results = [
        WorkloadResult(
            workload="throughput",
            system="rota (sqlite)",
            figures={"drain_per_s": Figure.of_runs([90.0, 110.0, 100.0])},
        )
    ]
    assert figures_grid(results).rows[0][1] == "100 (90\u2013110)"


def test_write_between_markers_appends_them_to_a_file_without(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n")
    write_between_markers(doc, "table one")
    write_between_markers(doc, "table two")
    assert doc.read_text() == f"# Title\n\n{BEGIN}\ntable two\n{END}\n"


def test_targets_say_whether_each_floor_is_met_and_what_was_not_measured() -> None:
    from rota.bench.targets import targets_grid

    results = [
        result(
            "rota (sqlite)", "throughput", single_per_s=3000.0, bulk_per_s=9000.0, drain_per_s=900.0
        ),
        result("huey 3", "throughput", single_per_s=5000.0, drain_per_s=500.0),
        result("celery 5", "throughput", single_per_s=1500.0, drain_per_s=600.0),
    ]
    rows = {row[0]: row for row in targets_grid(results).rows}
    assert rows["SQLite drain"][3] == "900/s = 1.50 x celery 5 (600/s)"
    assert rows["SQLite drain"][4] == "met"
    assert rows["single submits, durable (SQLite)"][4] == "met"
    assert rows["bulk submit (SQLite)"][4] == "**not met**"
    assert rows["punctuality (SQLite)"][4] == "not measured"


def test_memory_target_checks_each_idle_worker_and_the_server_after_a_million_jobs() -> None:
    from rota.bench.targets import targets_grid

    def memory(system: str, jobs: int, worker: float, server: float) -> WorkloadResult:
        return WorkloadResult(
            workload="memory",
            system=system,
            figures={
                "worker_idle_mib": Figure.one(worker),
                "server_1m_mib": Figure.one(server),
            },
            params={"jobs": jobs},
        )

    rows = {
        row[0]: row
        for row in targets_grid(
            [
                memory("rota (sqlite)", 20_000, 31.5, 70.0),
                memory("rota (postgres)", 1_000_000, 31.5, 81.0),
            ]
        ).rows
    }
    sqlite = rows["memory (sqlite)"]
    assert sqlite[3] == "worker 31.5 MiB, server 70.0 MiB after 1M (extrapolated from 20,000 jobs)"
    assert sqlite[4] == "met"
    assert rows["memory (postgres)"][3].endswith("(measured)")
    assert rows["memory (postgres)"][4] == "**not met**"
    over = targets_grid([memory("rota (sqlite)", 20_000, 50.5, 60.0)]).rows
    assert next(row for row in over if row[0] == "memory (sqlite)")[4] == "**not met**"
    none = targets_grid([]).rows
    assert next(row for row in none if row[0] == "memory (sqlite)")[4] == "not measured"


def test_memory_target_says_when_the_server_grew_within_noise_and_what_is_not_ruled_out() -> None:
    from rota.bench.targets import targets_grid

    def memory(counts: bool) -> WorkloadResult:
        return WorkloadResult(
            workload="memory",
            system="rota (sqlite)",
            figures={"worker_idle_mib": Figure.one(40.0), "server_1m_mib": Figure.one(73.0)},
            params={"jobs": 20_000, "server_growth_counts": counts, "server_1m_upper_mib": 150.0},
        )

    def cell(result: WorkloadResult) -> str:
        return next(row for row in targets_grid([result]).rows if row[0] == "memory (sqlite)")[3]

    assert cell(memory(counts=False)) == (
        "worker 40.0 MiB, server 73.0 MiB after 1M (extrapolated from 20,000 jobs: "
        "no growth beyond noise, 150.0 MiB not ruled out)"
    )
    assert cell(memory(counts=True)).endswith("(extrapolated from 20,000 jobs)")
