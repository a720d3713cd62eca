"""`rota bench` starts its own server and workers, runs every job, and reports the rates."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

ROTA = str(Path(sys.executable).with_name("rota"))


@pytest.mark.e2e
def test_bench_runs_every_job_and_reports_medians(tmp_path: Path) -> None:
    done = subprocess.run(
        [ROTA, "bench", "--jobs", "300", "--runs", "2", "--workers", "2", "--json"],
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
        cwd=tmp_path,
    )
    assert done.returncode == 0, done.stderr
    report = json.loads(done.stdout)
    assert [run["jobs"] for run in report["runs"]] == [300, 300]
    assert all(run["failed"] == 0 for run in report["runs"])
    assert report["median_done_per_s"] > 0
    assert list(tmp_path.iterdir()) == [], "bench must leave nothing behind"
