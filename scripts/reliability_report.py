"""Write docs/reliability.md from the last run of the fault suite and of the soak.

    python scripts/reliability_report.py [--figures FILE] [--soak FILE]

The fault tests (`pytest -m faults`, or `make faults`) append their figures to
build/fault-figures.jsonl (tests/e2e/figures.py; ROTA_FAULT_FIGURES moves it); the soak
(`rota bench soak --json build/soak.json`) writes its result there. This script keeps the
latest figure of each name in docs/reliability-figures.jsonl and the soak's result in
docs/reliability-soak.json (so the page's source stays beside it; a missing input keeps
what is there), then writes the whole of docs/reliability.md from those two files: the page
is generated, never edited. tests/unit/test_reliability_report.py checks that it is what
this script makes of them.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from pathlib import Path
from typing import Any

from rota.bench.metrics import metric

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reliability.md"
KEPT_FIGURES = ROOT / "docs" / "reliability-figures.jsonl"
KEPT_SOAK = ROOT / "docs" / "reliability-soak.json"
FIGURES = Path(os.environ.get("ROTA_FAULT_FIGURES") or ROOT / "build" / "fault-figures.jsonl")
SOAK = ROOT / "build" / "soak.json"
SOAK_MINUTES = 10
"""Issue 11 asks for 200 jobs/s for this long; a shorter run says it is one."""

GROUPS: tuple[tuple[str, str, str], ...] = (
    (
        "worker_kill",
        "A worker SIGKILLed holding 50 leases",
        "A worker with 10 slots and `--prefetch 40` holds 50 jobs (10 running, 40 waiting for "
        "a slot) that would take 300 s each there; a second worker is online; the first is "
        "killed with SIGKILL. Every job must run again on the survivor, once, well before "
        "the 30 s lease would expire (`tests/e2e/test_faults.py`).",
    ),
    (
        "killer_task",
        "A task that kills its worker every time",
        "A task that SIGKILLs its own worker, `max_attempts` 3, beside 30 ordinary jobs; a "
        "fresh worker is started after each death, as a supervisor would. The task must end "
        "`failed` after 3 attempts (each death is a lost lease, which counts) and every other "
        "job must succeed (`tests/e2e/test_faults.py`).",
    ),
    (
        "server_kill",
        "The server SIGKILLed during 10,000 submissions",
        "Four clients submit 10,000 jobs one request at a time, each with its own idempotency "
        "key, while a worker runs them; after 3,000 answers the server is killed with SIGKILL "
        "and started again on the same SQLite file. A request that got no answer is sent "
        "again with the same key. Every submission answered 2xx must be in the store after "
        "the restart, and none twice (`tests/e2e/test_faults.py`, which also kills the server "
        "with jobs running, queued and delayed).",
    ),
    (
        "network",
        "Network delay and a partition",
        "A worker runs in a network namespace whose only way to the server is a veth pair "
        "holding every packet 200 ± 50 ms each way (`tc netem`, or a relay on the host's end "
        "where the kernel has no netem); lease 3 s, heartbeat 0.5 s. After 20 quick jobs it "
        "runs four 20 s jobs, and the link is cut (the veth goes down: no reset, only "
        "silence) for 10 s while a second worker waits. The tasks record their own runs; no "
        "two runs of a job may overlap, the cut-off worker's late outcomes must be refused "
        "(fencing), nothing may be lost (`tests/e2e/test_network_faults.py`).",
    ),
    (
        "postgres_restart",
        "PostgreSQL restarted under load",
        "Two servers and two workers on a throw-away PostgreSQL cluster of the test's own run "
        "600 jobs of 50 ms; midway the database is stopped (fast shutdown) and started again "
        "3 s later. Nobody intervenes: every job must finish once, with its own result, "
        "servers and workers still up (`tests/e2e/test_multi_server.py`).",
    ),
    (
        "clock",
        "The server's wall clock stepped forward and back",
        "The server runs under libfaketime, its wall clock stepped 60 s forward and then "
        "10 s back while it runs (its monotonic clock untouched, as a real step leaves it). "
        "Two schedules fire every 2 s: `misfire: all` must run every time it jumped over, "
        "`misfire: once` the latest, listing the skip with its reason; no fire time may run "
        "twice (`tests/e2e/test_clock_faults.py`).",
    ),
    (
        "auth",
        "Requests without the right token",
        "A server that wants tokens, as a real process: every operation of its /openapi.json "
        "(but the open ones: the probes and signing in) is asked without a token, with a "
        "made-up one, with a revoked one and with a token of a role that may not; the "
        "worker socket likewise. Every request must be refused with 401 or 403 (4401 or 4403 "
        "on the socket) and change nothing (`tests/e2e/test_auth.py`).",
    ),
)


def latest(lines: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Return the latest figure of each name, in the order of GROUPS, then of first record."""
    by_name: dict[str, dict[str, Any]] = {}
    first: dict[str, int] = {}
    for index, line in enumerate(lines):
        first.setdefault(line["name"], index)
        by_name[line["name"]] = line
    order = {prefix: rank for rank, (prefix, _, _) in enumerate(GROUPS)}
    return sorted(
        by_name.values(),
        key=lambda line: (order.get(line["name"].split(".")[0], len(order)), first[line["name"]]),
    )


def number(value: Any) -> str:
    """Return a figure as people read it: 10,000; 1.32; "-" for none."""
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int) or (isinstance(value, float) and value.is_integer()):
        return f"{int(value):,}"
    return f"{value:,.2f}"


def render(figures: list[dict[str, Any]], soak: dict[str, Any] | None) -> str:
    """Return the whole page for the kept figures and soak result."""
    lines = [
        "# Reliability",
        "",
        "<!-- Generated by scripts/reliability_report.py from docs/reliability-figures.jsonl "
        "and docs/reliability-soak.json; do not edit. -->",
        "",
        "What Rota did under faults made with real processes, real signals, a real network "
        "namespace and a real clock step: the figures of the last run of the fault suite "
        "(`make faults`, or `pytest -m faults`; CI runs it with every test) and of the soak "
        "(`rota bench soak --json build/soak.json`, not in CI). "
        "`python scripts/reliability_report.py` writes this page from them.",
        "",
    ]
    lines += _machine(figures)
    named = {
        prefix: [f for f in figures if f["name"].split(".")[0] == prefix] for prefix, *_ in GROUPS
    }
    for prefix, title, method in GROUPS:
        lines += [f"## {title}", "", method, ""]
        if not named[prefix]:
            lines += ["Not measured in the last run.", ""]
            continue
        lines += ["| figure | value | unit | how |", "| --- | ---: | --- | --- |"]
        for figure in named[prefix]:
            name = figure["name"].split(".", 1)[1].replace("_", " ")
            lines.append(
                f"| {name} | {number(figure['value'])} | {figure['unit']} | {figure['note']} |"
            )
        lines.append("")
    others = [f for f in figures if f["name"].split(".")[0] not in named]
    if others:
        lines += [
            "## Other figures",
            "",
            "| figure | value | unit | how |",
            "| --- | ---: | --- | --- |",
        ]
        lines += [
            f"| {f['name']} | {number(f['value'])} | {f['unit']} | {f['note']} |" for f in others
        ]
        lines.append("")
    lines += _soak(soak)
    return "\n".join(lines).rstrip() + "\n"


def _machine(figures: list[dict[str, Any]]) -> list[str]:
    if not figures:
        return ["No fault figures recorded yet.", ""]
    moments = sorted(f["at"] for f in figures)
    loads = sorted(f["load_avg_1m"] for f in figures)
    first = figures[0]
    return [
        f"Fault suite run {moments[0]} to {moments[-1]} on {first['system']}, "
        f"{first['cores']} cores, 1-minute load average {number(loads[0])} to "
        f"{number(loads[-1])} while the figures were taken.",
        "",
    ]


def _soak(soak: dict[str, Any] | None) -> list[str]:
    lines = ["## Soak: a steady stream for minutes, memory read every second", ""]
    result = next((r for r in (soak or {}).get("results", []) if r["workload"] == "soak"), None)
    if soak is None or result is None:
        return [*lines, "Not run yet: `rota bench soak --json build/soak.json`.", ""]
    about, params = soak["machine"], result["params"]
    lines += [
        f"`{soak['command']}`, measured {about['measured_at']} on {about['cpu']} "
        f"({about['cores']} cores, {about['memory_gib']} GiB), {about['system']}, Python "
        f"{about['python']}: {number(params['rate_per_s'])} jobs/s asked for "
        f"{number(params['minutes'])} min, submitted in batches every 0.1 s to "
        f"{params['workers']} workers of {params['concurrency']} slots, on {result['system']}; "
        f"the RSS of the server's and of each worker's process tree read every "
        f"{number(params['sample_s'])} s ({len(params['samples'])} readings).",
        "",
        "| figure | value |",
        "| --- | ---: |",
    ]
    for key, figure in result["figures"].items():
        lines.append(f"| {metric('soak', key).label} | {number(figure['value'])} |")
    lines.append("")
    notes = list(result["notes"])
    if params["minutes"] < SOAK_MINUTES:
        notes.append(
            f"A short run of {number(params['minutes'])} min, not the {SOAK_MINUTES}-minute "
            "soak: `rota bench soak --json build/soak.json` on a quiet machine, then this script."
        )
    lines += [f"- {note}" for note in notes]
    return lines


def read_lines(path: Path) -> list[dict[str, Any]]:
    """Return the JSON objects of a JSON-lines file (none if it is missing)."""
    if not path.exists():
        return []
    return [json.loads(line) for line in path.read_text().splitlines() if line.strip()]


def main(argv: list[str]) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--figures", type=Path, default=FIGURES)
    parser.add_argument("--soak", type=Path, default=SOAK)
    options = parser.parse_args(argv)
    figures = latest(read_lines(KEPT_FIGURES) + read_lines(options.figures))
    KEPT_FIGURES.write_text("".join(json.dumps(f) + "\n" for f in figures))
    if options.soak.exists():
        result = json.loads(options.soak.read_text())
        result["command"] = str(result.get("command", "")).replace(f"{ROOT}/", "")
        KEPT_SOAK.write_text(json.dumps(result, indent=2) + "\n")
    soak = json.loads(KEPT_SOAK.read_text()) if KEPT_SOAK.exists() else None
    DOC.write_text(render(figures, soak))
    sys.stdout.write(f"wrote {DOC.relative_to(ROOT)} ({len(figures)} figures)\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv[1:]))
