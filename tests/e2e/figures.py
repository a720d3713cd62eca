"""What a fault test measured: `record(name, value, unit, note)` appends one figure to a
JSON-lines file that scripts/reliability_report.py turns into docs/reliability.md.

The file is ROTA_FAULT_FIGURES, or build/fault-figures.jsonl. Lines are only appended (each
in one write, so the processes of `pytest -n 2` may share the file); the report keeps the
latest line of each name, so running one fault file again replaces that file's figures.
"""

from __future__ import annotations

import json
import os
import platform
from datetime import UTC, datetime
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
FIGURES_VARIABLE = "ROTA_FAULT_FIGURES"
DEFAULT_FIGURES = ROOT / "build" / "fault-figures.jsonl"


def figures_file() -> Path:
    """Return where figures go: $ROTA_FAULT_FIGURES, or build/fault-figures.jsonl."""
    return Path(os.environ.get(FIGURES_VARIABLE) or DEFAULT_FIGURES)


def record(name: str, value: float | None, unit: str, note: str = "") -> None:
    """Append one figure of the running test: `name` is unique across the suite (the report
    keeps the latest value of each), `unit` is what the value counts ("jobs", "s", "MiB"),
    `note` says how it was measured. Call it before asserting on the value, so a failing
    run leaves its figure too."""
    test = os.environ.get("PYTEST_CURRENT_TEST", "").rsplit(" (", 1)[0]
    line = {
        "name": name,
        "value": value,
        "unit": unit,
        "note": note,
        "test": test,
        "at": datetime.now(UTC).isoformat(timespec="seconds"),
        "cores": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
        "system": f"{platform.system()} {platform.release()}",
    }
    path = figures_file()
    path.parent.mkdir(parents=True, exist_ok=True)
    with path.open("a") as out:
        out.write(json.dumps(line) + "\n")
