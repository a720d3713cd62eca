"""Write the network-fault test report into docs/reminders.md from the test's figures.

    python scripts/reminders_report.py [build/reminders-faults.json]

tests/e2e/test_reminder_faults.py writes the figures of its run to
build/reminders-faults.json. This script copies them to docs/reminders-faults.json (so the
report's source is kept beside it) and writes the report between the markers
`<!-- reminders-faults:begin -->` and `<!-- reminders-faults:end -->` in docs/reminders.md;
the rest of that file is the engineers' own text. tests/unit/test_reminders_report.py checks
that the report in the docs is what this script makes of docs/reminders-faults.json.
"""

from __future__ import annotations

import json
import shutil
import sys
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[1]
DOC = ROOT / "docs" / "reminders.md"
KEPT = ROOT / "docs" / "reminders-faults.json"
BEGIN = "<!-- reminders-faults:begin -->"
END = "<!-- reminders-faults:end -->"


def seconds(value: float | None) -> str:
    """Return a span in seconds as people read it: "0.012 s", "4.31 s", "-" for none."""
    if value is None:
        return "-"
    return f"{value:.3f} s" if value < 1 else f"{value:.2f} s"


def render(figures: dict[str, Any]) -> str:
    """Return the report's Markdown for a run's figures."""
    net, run = figures["network"], figures["run"]
    up, down = figures["due_while_up"], figures["due_while_down"]
    starting = figures["due_while_starting"]
    if net["method"] == "tc netem":
        how = (
            f"`tc qdisc add … netem delay {net['delay_ms_each_way']}ms {net['jitter_ms']}ms` "
            "on both ends of the veth pair (so each way)"
        )
    else:
        how = (
            f"a relay on the host's end of the veth pair holding every chunk "
            f"{net['delay_ms_each_way']} ± {net['jitter_ms']} ms (uniform) each way, in order, "
            "since this machine's kernel has no netem (CONFIG_NET_SCH_NETEM unset); the median "
            f"hold was {seconds(net['relay_hold_median_s'])}"
        )
    rows = [
        ("reminders", str(figures["reminders"])),
        ("rang", str(figures["rung"])),
        ("lost", str(figures["lost"])),
        ("rang twice", str(figures["rung_twice"])),
        ("chimes written", str(figures["chimes_written"])),
        ("handed over again after the restart", str(figures["handed_over_again"])),
        ("marked late (over 1 s)", str(figures["late"])),
        ("lateness p50 / max, all", lateness(figures["lateness_s"])),
        (f"lateness p50 / max, {up['count']} due while the device ran", lateness(up["lateness_s"])),
        (
            f"lateness p50 / max, {starting['count']} due while it started again",
            lateness(starting["lateness_s"]),
        ),
        (
            f"lateness p50 / max, {down['count']} due while it was dead",
            lateness(down["lateness_s"]),
        ),
        (
            "HTTP round trip from the device's namespace (median)",
            seconds(net["request_round_trip_s"]),
        ),
        ("device clock offset the server saw", seconds(net["clock_offset_seen_s"])),
    ]
    table = "\n".join(["| figure | value |", "|---|---|", *(f"| {a} | {b} |" for a, b in rows)])
    again = figures["handed_over_again"]
    intro = (
        f"Run {run['at']} by `tests/e2e/test_reminder_faults.py` (markers `e2e`, `faults`; it "
        f"needs root for `ip netns`), on a machine with {run['cpus']} CPUs and a load average "
        f"of {run['load_avg_1m']:g} at the end of the run. A real `rota device` runs in a "
        f"network namespace whose only way to the server is a veth pair, delayed by {how}. "
        f"{run['reminders_before_kill']} reminders are due {run['spacing_s']:g} s apart; the "
        "device is killed with SIGKILL once about six have rung, "
        f"{run['reminders_while_down']} more are submitted while it is dead, and it is started "
        f"again on the same holdings file {run['down_s']:.1f} s later; the server saw it online "
        f"again {run['start_to_online_s']:.1f} s after that."
    )
    again_text = (
        f"{again} reminder(s) were handed over again after the restart (their leases had been "
        "reaped while the device was dead); the device matched each to the one in its file "
        "(by job id and due time), and none rang twice."
        if again
        else "No reminder had to be handed over again after the restart."
    )
    return f"""{intro}

{table}

Lateness is the device's own measure: when it rang minus when it was due, by its clock. The
reminders due while it was dead, or while the restarted process was still starting, rang from
its file (or, for those submitted while it was dead, on delivery) as soon as it could, so
they are late by about the time it was away; the others rang by the device's clock whatever
the network did. {again_text} The clock offset is negative by about the one-way delay, which
it includes.
"""


def lateness(spread: dict[str, float | None]) -> str:
    return f"{seconds(spread['p50'])} / {seconds(spread['max'])}"


def write_between_markers(path: Path, body: str) -> None:
    """Replace the text between the markers in `path` with `body` (adding what is missing)."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{BEGIN}\n{body.strip()}\n{END}"
    start, end = text.find(BEGIN), text.find(END)
    if start != -1 and end > start:
        text = text[:start] + block + text[end + len(END) :]
    else:
        text = text.rstrip() + ("\n\n" if text.strip() else "") + block + "\n"
    path.write_text(text, encoding="utf-8")


def between_markers(text: str) -> str | None:
    """Return the text between the markers, or None when they are missing."""
    start, end = text.find(BEGIN), text.find(END)
    return None if start == -1 or end < start else text[start + len(BEGIN) : end].strip()


def main(argv: list[str]) -> int:
    source = Path(argv[1]) if len(argv) > 1 else ROOT / "build" / "reminders-faults.json"
    if not source.is_file():
        sys.stderr.write(f"no figures at {source}: run tests/e2e/test_reminder_faults.py\n")
        return 1
    figures = json.loads(source.read_text(encoding="utf-8"))
    if source.resolve() != KEPT.resolve():
        shutil.copyfile(source, KEPT)
    write_between_markers(DOC, render(figures))
    sys.stdout.write(f"wrote the test report into {DOC.relative_to(ROOT)}\n")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
