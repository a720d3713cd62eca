"""A small run of each `rota bench` workload with real processes: each completes and its
figures make sense. A benchmark is not a test: no figure is compared with a wall-clock bound."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.pg import drop_database, fresh_database, query

ROTA = str(Path(sys.executable).with_name("rota"))

# Each test runs real processes end to end; a loaded 2-core machine needs minutes, not seconds.
pytestmark = [pytest.mark.e2e, pytest.mark.bench_smoke, pytest.mark.timeout(900)]


def bench(tmp_path: Path, *args: str, timeout_s: float = 600) -> dict[str, Any]:
    """Run `rota bench ARGS --json FILE` in an empty folder; return the file's content."""
    out = tmp_path / "out"
    out.mkdir()
    report = tmp_path / "report.json"
    done = subprocess.run(
        [ROTA, "bench", *args, "--json", str(report)],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        check=False,
        cwd=out,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    assert list(out.iterdir()) == [], "bench must leave nothing behind"
    data: dict[str, Any] = json.loads(report.read_text())
    return data


def figures(data: dict[str, Any], workload: str, system: str = "rota (sqlite)") -> dict[str, Any]:
    """Return the median of each figure of one workload on one system."""
    for result in data["results"]:
        if result["workload"] == workload and result["system"] == system:
            return {key: value["value"] for key, value in result["figures"].items()}
    raise AssertionError(f"no {workload} result for {system}")


def test_throughput_runs_every_job_and_reports_each_phase(tmp_path: Path) -> None:
    data = bench(tmp_path, "throughput", "--jobs", "1000", "--runs", "2")
    result = next(r for r in data["results"] if r["workload"] == "throughput")
    assert result["notes"] == [], "no job may fail"
    for key in (
        "single_per_s",
        "single_relaxed_per_s",
        "bulk_per_s",
        "drain_per_s",
        "drain_prefetch_per_s",
    ):
        assert len(result["figures"][key]["runs"]) == 2
        assert result["figures"][key]["value"] > 0
    assert data["plan"]["throughput"]["jobs"] == 1000


def test_latency_measures_every_job_from_submit_to_start(tmp_path: Path) -> None:
    data = bench(tmp_path, "latency", "--latency-jobs", "200", "--rate", "100")
    got = figures(data, "latency")
    assert 0 < got["p50_ms"] <= got["p99_ms"]


def test_punctuality_runs_every_job_and_none_early(tmp_path: Path) -> None:
    data = bench(
        tmp_path, "punctuality", "--punctual-jobs", "100", "--ahead-min", "1", "--ahead-max", "3"
    )
    got = figures(data, "punctuality")
    assert got["ran"] == 100
    assert got["early"] == 0
    assert 0 <= got["late_p50_ms"] <= got["late_p99_ms"] <= got["late_max_ms"]


def test_recovery_finishes_every_job_after_a_worker_is_killed(tmp_path: Path) -> None:
    data = bench(
        tmp_path,
        "recovery",
        "--recovery-jobs",
        "6",
        "--recovery-seconds",
        "1",
        "--kill-after",
        "1.5",
    )
    got = figures(data, "recovery")
    assert got["completed"] == 6
    assert got["overlapping"] == 0
    assert got["run_twice"] <= 1
    if got["run_twice"] == 1:
        assert got["rerun_after_s"] is not None and got["rerun_after_s"] >= 0


def test_memory_reads_the_rss_of_each_worker_and_of_the_server_after_the_jobs(
    tmp_path: Path,
) -> None:
    data = bench(tmp_path, "memory", "--memory-jobs", "1000")
    got = figures(data, "memory")
    result = next(r for r in data["results"] if r["workload"] == "memory")
    each = result["params"]["worker_idle_each_mib"]
    assert len(each) == 2 and all(value > 0 for value in each)
    assert got["worker_idle_mib"] == max(each)
    for key in ("worker_after_mib", "server_idle_mib", "server_after_mib"):
        assert got[key] > 0
    # Below 1M jobs the 1M figure is extrapolated from the growth, never below what was read.
    assert got["server_1m_mib"] >= got["server_after_mib"]
    # The server's RSS is read after each round of jobs; the growth is fitted on the second half.
    params = result["params"]
    assert [jobs for jobs, _ in params["server_readings"]] == [167, 334, 501, 668, 835, 1000]
    assert all(mib > 0 for _, mib in params["server_readings"])
    assert params["server_growth_fitted"] == 3
    assert got["server_growth_mib"] is not None and params["server_growth_se_mib"] >= 0
    first, growth = result["notes"]
    assert first == "server RSS after 1,000,000 jobs extrapolated from 1,000"
    assert growth.startswith("server RSS growth") and "last 3 of 6 readings" in growth
    assert data["plan"]["memory"]["jobs"] == 1000


def test_scale_fills_the_store_and_measures_each_level(tmp_path: Path) -> None:
    data = bench(tmp_path, "scale", "--scale-max", "1000", "--scale-jobs", "20")
    got = figures(data, "scale")
    for level in ("1,000 finished", "1,000 pending"):
        assert got[f"submit p50 ms, {level}"] > 0
        assert 0 < got[f"claim p50 ms, {level}"] <= got[f"claim p99 ms, {level}"]


@pytest.mark.postgres
def test_postgres_store_runs_and_drops_its_schema(tmp_path: Path) -> None:
    # A database of the test's own: other runs of the bench on the server cannot blur it.
    dsn, admin = fresh_database()
    try:
        data = bench(
            tmp_path,
            "throughput",
            "scale",
            "--store",
            "postgres",
            "--postgres",
            dsn,
            "--jobs",
            "300",
            "--runs",
            "1",
            "--scale-max",
            "1000",
            "--scale-jobs",
            "10",
        )
        assert figures(data, "throughput", "rota (postgres)")["drain_per_s"] > 0
        assert figures(data, "scale", "rota (postgres)")["claim p50 ms, 1,000 pending"] > 0
        schemas = query(dsn, "SELECT nspname FROM pg_namespace WHERE nspname LIKE 'rota_bench_%'")
        assert schemas == []
    finally:
        drop_database(admin, dsn)


def test_write_doc_replaces_only_the_text_between_the_markers(tmp_path: Path) -> None:
    doc = tmp_path / "performance.md"
    doc.write_text(
        "# Performance\n\nBefore.\n\n<!-- rota-bench:begin -->\nold table\n"
        "<!-- rota-bench:end -->\n\nAfter.\n"
    )
    out = tmp_path / "out"
    out.mkdir()
    done = subprocess.run(
        [ROTA, "bench", "latency", "--latency-jobs", "20", "--rate", "50", "--write-doc", str(doc)],
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
        cwd=out,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    text = doc.read_text()
    assert text.startswith("# Performance\n\nBefore.\n\n<!-- rota-bench:begin -->\n")
    assert text.endswith("<!-- rota-bench:end -->\n\nAfter.\n")
    assert "old table" not in text
    assert "| latency: submit to start at a steady rate, p50 ms |" in text
    assert "rota bench latency --latency-jobs 20" in text


def test_from_json_shows_a_saved_run_without_running_anything(tmp_path: Path) -> None:
    saved = tmp_path / "saved.json"
    saved.write_text(
        json.dumps(
            {
                "command": "rota bench throughput",
                "machine": {
                    "measured_at": "2026-01-01T00:00:00+00:00",
                    "cpu": "a CPU",
                    "cores": 2,
                    "memory_gib": 4,
                    "system": "Linux",
                    "python": "3.11",
                },
                "results": [
                    {
                        "workload": "throughput",
                        "system": "rota (sqlite)",
                        "figures": {"drain_per_s": {"value": 123.0, "runs": [123.0]}},
                    }
                ],
            }
        )
    )
    doc = tmp_path / "doc.md"
    done = subprocess.run(
        [ROTA, "bench", "--from-json", str(saved), "--write-doc", str(doc)],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    assert "| throughput: drain with 2 worker processes, jobs/s | 123 |" in doc.read_text()


def test_soak_keeps_its_rate_runs_every_job_and_samples_memory_each_second(
    tmp_path: Path,
) -> None:
    data = bench(tmp_path, "soak", "--soak-rate", "50", "--soak-minutes", "0.05")
    got = figures(data, "soak")
    assert got["jobs"] == 150
    assert got["failed"] == 0
    assert got["rate_per_s"] > 0
    result = next(r for r in data["results"] if r["workload"] == "soak")
    samples = result["params"]["samples"]
    assert len(samples) >= 2, "one reading a second"
    assert all(s["server_mib"] > 0 and len(s["workers_mib"]) == 2 for s in samples)
    for key in ("server_first_mib", "server_max_mib", "worker_max_mib"):
        assert got[key] > 0
    assert got["server_max_mib"] >= got["server_first_mib"]
    assert data["plan"]["soak"] == {"rate": 50.0, "minutes": 0.05, "workers": 2, "concurrency": 8}


def test_an_unnamed_run_leaves_the_soak_out() -> None:
    from rota.bench.suite import parse_workloads

    assert "soak" not in parse_workloads([])
    assert "soak" not in parse_workloads(["all"])
    assert parse_workloads(["soak"]) == ["soak"]
