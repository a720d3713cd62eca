"""Reminders over a slow network, with the device killed and restarted in the middle.

A real `rota device` runs in a network namespace whose only way to the server is a veth pair
holding every packet 200 ± 50 ms each way (tests/e2e/netfaults.py). Thirty reminders are
due a second apart; the device is killed (SIGKILL) while it holds most of them, ten more
are submitted while it is gone, and it is started again on the same holdings file. Nothing
may be lost and nothing may ring twice. The figures (how many, how late, how many rang
twice) are written to build/reminders-faults.json, from which scripts/reminders_report.py
writes the test report in docs/reminders.md.
"""

from __future__ import annotations

import json
import os
import statistics
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import ROTA, Cluster, wait_for
from tests.e2e.netfaults import DELAY_MS, JITTER_MS, SlowLink, slow_link
from tests.e2e.test_device import audio_dir, chimes, held_ids, holdings_file, remind

pytestmark = [pytest.mark.e2e, pytest.mark.faults]

ROOT = Path(__file__).resolve().parents[2]
REPORT = ROOT / "build" / "reminders-faults.json"
BEFORE = 20
"""Reminders submitted while the device runs, due FIRST_DUE_S + 0, 1, 2 … s from then."""
DURING = 10
"""Reminders submitted while the device is dead, due after it is back."""
FIRST_DUE_S = 10.0
SPACING_S = 1.0
KILL_AFTER_RINGS = 6
"""The device is killed once about this many reminders should have rung."""
DOWN_S = 4.0
PROBE = """
import statistics, sys, time, httpx
with httpx.Client(timeout=30) as client:
    client.get(sys.argv[1] + "/healthz")
    spans = []
    for _ in range(7):
        start = time.monotonic()
        client.get(sys.argv[1] + "/healthz")
        spans.append(time.monotonic() - start)
print(statistics.median(spans))
"""


def start_device(cluster: Cluster, link: SlowLink, url: str) -> subprocess.Popen[bytes]:
    """Start `rota device laptop` inside the namespace, reaching the server at `url`."""
    args = [
        *(ROTA, "device", "--server", url, "--name", "laptop"),
        *("--audio-out", str(audio_dir(cluster, "laptop"))),
        *("--holdings", str(holdings_file(cluster, "laptop"))),
    ]
    with open(cluster.tmp_path / "device-laptop.log", "ab") as log:
        process = subprocess.Popen(
            link.command(*args), env=cluster._env({}), stdout=log, stderr=subprocess.STDOUT
        )
    cluster._all.append(process)
    wait_for(lambda: cluster.worker_state("laptop") == "online", 60, "the device online")
    return process


def round_trip_s(link: SlowLink, url: str) -> float:
    """Return the median time of an HTTP request from inside the namespace to the server."""
    probe = subprocess.run(
        link.command(sys.executable, "-c", PROBE, url),
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return float(probe.stdout.strip())


def test_under_delay_a_killed_device_loses_no_reminder_and_rings_none_twice(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    with slow_link() as link:
        url = link.forward(cluster.port)
        rtt_s = round_trip_s(link, url)
        device = start_device(cluster, link, url)
        started = datetime.now(UTC)
        first = [
            remind(cluster, f"before {i}", started + timedelta(seconds=FIRST_DUE_S + i * SPACING_S))
            for i in range(BEFORE)
        ]
        ids = {job["id"] for job in first}
        wait_for(
            lambda: all(i in held_ids(cluster) or chimes(cluster, i) for i in ids),
            60,
            "the device to hold them",
        )
        offset_s = cluster.get("/api/v1/devices/laptop")["clock_offset_s"]
        kill_at = started + timedelta(seconds=FIRST_DUE_S + (KILL_AFTER_RINGS - 0.5) * SPACING_S)
        time.sleep(max(0.0, (kill_at - datetime.now(UTC)).total_seconds()))
        cluster.kill(device)
        killed_at = datetime.now(UTC)
        second = [
            remind(cluster, f"during {i}", killed_at + timedelta(seconds=DOWN_S + 4 + i))
            for i in range(DURING)
        ]
        time.sleep(max(0.0, DOWN_S - (datetime.now(UTC) - killed_at).total_seconds()))
        back_at = datetime.now(UTC)  # the process starts now; it rings from its file at once
        start_device(cluster, link, url)
        online_at = datetime.now(UTC)
        jobs = [cluster.wait_finished(job["id"], 120) for job in first + second]
        time.sleep(3)  # a re-delivery or a second ring from the file would come by now
        wavs = {job["id"]: chimes(cluster, job["id"]) for job in jobs}
        held_s = list(link.relay.held_s) if link.relay is not None else []
        method = link.method

    figures = summarize(jobs, wavs, killed_at=killed_at, back_at=back_at, online_at=online_at)
    figures["network"] = {
        "method": method,
        "delay_ms_each_way": DELAY_MS,
        "jitter_ms": JITTER_MS,
        "request_round_trip_s": round(rtt_s, 3),
        "relay_hold_median_s": round(statistics.median(held_s), 3) if held_s else None,
        "clock_offset_seen_s": offset_s,
    }
    figures["run"] = {
        "reminders_before_kill": BEFORE,
        "reminders_while_down": DURING,
        "spacing_s": SPACING_S,
        "down_s": round((back_at - killed_at).total_seconds(), 3),
        "start_to_online_s": round((online_at - back_at).total_seconds(), 3),
        "kills": 1,
        "at": started.isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "load_avg_1m": round(os.getloadavg()[0], 1),
    }
    REPORT.parent.mkdir(parents=True, exist_ok=True)
    REPORT.write_text(json.dumps(figures, indent=2) + "\n")

    assert figures["lost"] == 0, [job for job in jobs if job["state"] != "succeeded"]
    assert figures["rung_twice"] == 0, {key: value for key, value in wavs.items() if len(value) > 1}
    assert figures["rung"] == BEFORE + DURING
    assert all(job["result"]["device"] == "laptop" for job in jobs)
    # The device's file holds nothing more: every reminder rang and was reported.
    assert held_ids(cluster) == []
    # The reminders due while the device was dead rang from its file when it came back.
    down = [job for job in jobs if killed_at <= due_at(job) < back_at]
    assert len(down) == figures["due_while_down"]["count"] >= 1
    assert all(datetime.fromisoformat(job["result"]["rung_at"]) >= back_at for job in down)


def summarize(
    jobs: list[dict[str, Any]],
    wavs: dict[str, list[Path]],
    *,
    killed_at: datetime,
    back_at: datetime,
    online_at: datetime,
) -> dict[str, Any]:
    """Return the figures of a run: how many rang, were lost, rang twice, and how late, in
    all and by when they were due: while the device was dead, while it started again (until
    the server saw it online), or while it ran."""
    rung = [job for job in jobs if job["state"] == "succeeded" and job["result"]]
    late_s = sorted(float(job["result"]["late_s"]) for job in rung)
    down = [job for job in rung if killed_at <= due_at(job) < back_at]
    starting = [job for job in rung if back_at <= due_at(job) < online_at]
    up = [job for job in rung if job not in down and job not in starting]
    return {
        "reminders": len(jobs),
        "rung": len(rung),
        "lost": len(jobs) - len(rung),
        "rung_twice": sum(1 for found in wavs.values() if len(found) > 1),
        "chimes_written": sum(len(found) for found in wavs.values()),
        "handed_over_again": sum(1 for job in jobs if job["attempt"] > 1),
        "late": sum(1 for job in rung if job["result"]["late"]),
        "lateness_s": spread(late_s),
        "due_while_up": group(up),
        "due_while_starting": group(starting),
        "due_while_down": group(down),
    }


def group(jobs: list[dict[str, Any]]) -> dict[str, Any]:
    """Return how many of these rang, how many late, and their lateness."""
    return {
        "count": len(jobs),
        "late": sum(1 for job in jobs if job["result"]["late"]),
        "lateness_s": spread(sorted(float(job["result"]["late_s"]) for job in jobs)),
    }


def due_at(job: dict[str, Any]) -> datetime:
    return datetime.fromisoformat(job["run_at"])


def spread(values: list[float]) -> dict[str, float | None]:
    """Return p50 and max of sorted values, in seconds (None when there are none)."""
    if not values:
        return {"p50": None, "max": None}
    return {"p50": round(statistics.median(values), 3), "max": round(values[-1], 3)}
