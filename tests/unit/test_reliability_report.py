"""docs/reliability.md is what scripts/reliability_report.py makes of the figures kept beside
it, never text typed by hand; and the fault tests' recorder writes what the script reads."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

from tests.e2e import figures as recorder

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reliability_report", ROOT / "scripts" / "reliability_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_script()


def line(name: str, value: float | None, at: str = "2026-12-01T09:00:00+00:00") -> dict[str, Any]:
    return {
        "name": name,
        "value": value,
        "unit": "jobs",
        "note": f"note of {name}",
        "test": "tests/e2e/test_faults.py::test_x",
        "at": at,
        "cores": 2,
        "load_avg_1m": 1.5,
        "system": "Linux 6.1",
    }


SOAK: dict[str, Any] = {
    "command": "rota bench soak --json build/soak.json",
    "machine": {
        "cpu": "Some CPU",
        "cores": 2,
        "memory_gib": 7.8,
        "system": "Linux 6.1",
        "python": "3.11.7",
        "measured_at": "2026-12-01T09:30:00+00:00",
    },
    "results": [
        {
            "workload": "soak",
            "system": "rota (sqlite)",
            "figures": {
                "rate_per_s": {"value": 199.8},
                "server_max_mib": {"value": 81.25},
            },
            "notes": ["2 job(s) failed"],
            "params": {
                "rate_per_s": 200.0,
                "minutes": 10.0,
                "workers": 2,
                "concurrency": 8,
                "sample_s": 1.0,
                "samples": [{"at_s": 0.0, "server_mib": 70.0, "workers_mib": [40.0, 41.0]}],
            },
        }
    ],
}


def test_the_latest_figure_of_each_name_wins_in_the_order_of_the_groups() -> None:
    kept = report.latest(
        [
            line("clock.fired_twice", 1, "2026-12-01T08:00:00+00:00"),
            line("worker_kill.lost", 0),
            line("clock.fired_twice", 0, "2026-12-01T09:00:00+00:00"),
        ]
    )
    assert [(f["name"], f["value"]) for f in kept] == [
        ("worker_kill.lost", 0),
        ("clock.fired_twice", 0),
    ]


def test_the_page_shows_each_group_its_figures_the_machine_and_the_soak() -> None:
    page = report.render([line("server_kill.lost", 0), line("server_kill.found", 10000)], SOAK)
    assert page.startswith("# Reliability\n")
    assert "## The server SIGKILLed during 10,000 submissions" in page
    assert "| lost | 0 | jobs | note of server_kill.lost |" in page
    assert "| found | 10,000 | jobs |" in page
    assert "## PostgreSQL restarted under load" in page
    assert "Not measured in the last run." in page  # the groups without figures say so
    assert "Linux 6.1, 2 cores" in page
    assert "| server RSS, highest, MiB | 81.25 |" in page
    assert "- 2 job(s) failed" in page
    assert "(1 readings)" in page
    assert "A short run" not in page


def test_a_soak_shorter_than_ten_minutes_says_so() -> None:
    short = json.loads(json.dumps(SOAK))
    short["results"][0]["params"]["minutes"] = 1.0
    assert "A short run of 1 min, not the 10-minute soak" in report.render([], short)


def test_a_page_without_a_soak_says_how_to_run_it() -> None:
    assert "Not run yet: `rota bench soak" in report.render([], None)


def test_the_recorder_appends_lines_the_report_reads(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    target = tmp_path / "figures.jsonl"
    monkeypatch.setenv(recorder.FIGURES_VARIABLE, str(target))
    recorder.record("network.duplicates", 0, "jobs", "by the tasks' own records")
    recorder.record("network.duplicates", 2, "jobs", "by the tasks' own records")
    (kept,) = report.latest(report.read_lines(target))
    assert kept["value"] == 2 and kept["unit"] == "jobs"
    assert "| duplicates | 2 | jobs | by the tasks' own records |" in report.render([kept], None)


def test_the_page_in_the_docs_is_what_the_script_makes_of_the_kept_figures() -> None:
    figures = report.read_lines(report.KEPT_FIGURES)
    soak = json.loads(report.KEPT_SOAK.read_text()) if report.KEPT_SOAK.exists() else None
    assert figures, "docs/reliability-figures.jsonl is empty: run the fault suite"
    assert report.DOC.read_text() == report.render(figures, soak), (
        "run python scripts/reliability_report.py"
    )
