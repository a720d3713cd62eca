"""The network-fault test report in docs/reminders.md is what scripts/reminders_report.py
makes of the figures kept beside it, never text typed by hand."""

from __future__ import annotations

import importlib.util
import json
from pathlib import Path
from types import ModuleType
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def load_script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "reminders_report", ROOT / "scripts" / "reminders_report.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


report = load_script()

SAMPLE: dict[str, Any] = {
    "reminders": 30,
    "rung": 29,
    "lost": 1,
    "rung_twice": 2,
    "chimes_written": 31,
    "handed_over_again": 3,
    "late": 5,
    "lateness_s": {"p50": 0.004, "max": 4.5},
    "due_while_up": {"count": 25, "late": 0, "lateness_s": {"p50": 0.003, "max": 0.02}},
    "due_while_starting": {"count": 1, "late": 1, "lateness_s": {"p50": 1.5, "max": 1.5}},
    "due_while_down": {"count": 4, "late": 4, "lateness_s": {"p50": 2.75, "max": 4.5}},
    "network": {
        "method": "tc netem",
        "delay_ms_each_way": 200,
        "jitter_ms": 50,
        "request_round_trip_s": 0.41,
        "relay_hold_median_s": None,
        "clock_offset_seen_s": -0.203,
    },
    "run": {
        "reminders_before_kill": 20,
        "reminders_while_down": 10,
        "spacing_s": 1.0,
        "down_s": 4.2,
        "start_to_online_s": 3.1,
        "kills": 1,
        "at": "2030-01-01T00:00:00+00:00",
        "cpus": 2,
        "load_avg_1m": 3.5,
    },
}


def test_the_report_states_the_figures_it_is_given() -> None:
    text = report.render(SAMPLE)
    cells = [
        [cell.strip() for cell in line.strip().strip("|").split("|")]
        for line in text.splitlines()
        if line.startswith("| ") and not line.startswith("| figure")
    ]
    rows = {cell[0]: cell[1] for cell in cells}
    assert rows["reminders"] == "30"
    assert rows["lost"] == "1"
    assert rows["rang twice"] == "2"
    assert rows["lateness p50 / max, all"] == "0.004 s / 4.50 s"
    assert rows["lateness p50 / max, 4 due while it was dead"] == "2.75 s / 4.50 s"
    assert rows["device clock offset the server saw"] == "-0.203 s"
    assert "netem delay 200ms 50ms" in text
    assert "2 CPUs and a load average of 3.5" in text
    assert rows["handed over again after the restart"] == "3"
    assert "3 reminder(s) were handed over again" in text
    relayed = report.render(
        {**SAMPLE, "network": {**SAMPLE["network"], "method": "relay", "relay_hold_median_s": 0.2}}
    )
    assert "no netem" in relayed and "0.200 s" in relayed


def test_the_markers_keep_the_rest_of_the_file(tmp_path: Path) -> None:
    doc = tmp_path / "doc.md"
    doc.write_text("# Title\n\nOwn words.\n")
    report.write_between_markers(doc, "first")
    report.write_between_markers(doc, "second")
    text = doc.read_text()
    assert text.startswith("# Title\n\nOwn words.\n")
    assert report.between_markers(text) == "second"
    assert "first" not in text


def test_the_docs_hold_the_report_of_the_kept_figures() -> None:
    section = report.between_markers(report.DOC.read_text(encoding="utf-8"))
    assert section is not None, "docs/reminders.md lost its report markers"
    if not report.KEPT.exists():
        assert section == "", "a report without its figures (docs/reminders-faults.json)"
        return
    figures = json.loads(report.KEPT.read_text(encoding="utf-8"))
    assert section == report.render(figures).strip(), "run scripts/reminders_report.py"
