"""The server's wall clock moved forward a minute, then back: no schedule fires a time twice,
and none skips a time without saying so.

The server runs under libfaketime (LD_PRELOAD) reading its offset from a file on every call
to the clock, so the test moves the clock of that one process while it runs, as an NTP step
or an operator's `date -s` would; its monotonic clock is left alone, as a real step leaves
it. Rota reads the wall clock in one place (rota/clock.py) and the SQLite store keeps the
server's time, so this moves Rota's every notion of "now". Two interval schedules fire every
2 s: one runs every occurrence it missed (`misfire: all`), the other only the latest
(`misfire: once`, the default), listing the rest as skipped with the reason.
"""

from __future__ import annotations

import glob
import itertools
import os
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from tests.e2e.conftest import Cluster, wait_for
from tests.e2e.figures import record

pytestmark = [pytest.mark.e2e, pytest.mark.faults, pytest.mark.timeout(300)]

INTERVAL_S = 2.0
FORWARD_S = 60
BACK_S = 10
STEADY_S = 6.0
"""How long the clock runs evenly before each step, and after the last one has been
caught up with."""


def libfaketime() -> str:
    """Return the path of libfaketime (scripts/install-faketime installs it)."""
    found = os.environ.get("ROTA_TEST_FAKETIME") or next(
        iter(sorted(glob.glob("/usr/lib/*/faketime/libfaketime.so.1"))), None
    )
    if not found:
        pytest.fail("the clock fault test needs libfaketime: run scripts/install-faketime")
    return found


def runs(cluster: Cluster, name: str) -> list[dict[str, Any]]:
    return list(cluster.get(f"/api/v1/schedules/{name}/runs", params={"limit": 500})["runs"])


def fire_times(found: list[dict[str, Any]], outcome: str | None = None) -> list[datetime]:
    """Return the fire times of the runs (of one outcome, or of every job), oldest first."""
    return sorted(
        datetime.fromisoformat(run["fire_at"])
        for run in found
        if (run["outcome"] == outcome if outcome else run["outcome"] != "skipped")
    )


def test_a_server_clock_stepped_forward_and_back_fires_no_time_twice_and_skips_none_silently(
    cluster: Cluster, tmp_path: Path
) -> None:
    offset = tmp_path / "faketime.rc"
    offset.write_text("+0\n")
    cluster.start_server(
        LD_PRELOAD=libfaketime(),
        FAKETIME_TIMESTAMP_FILE=str(offset),
        FAKETIME_NO_CACHE="1",
        FAKETIME_DONT_FAKE_MONOTONIC="1",
    )
    cluster.start_worker("w1", concurrency=8)
    for name, misfire in (("every-all", "all"), ("every-once", "once")):
        body = {
            "name": name,
            "task": "e2e.add",
            "args": [1, 1],
            "interval": INTERVAL_S,
            "misfire": misfire,
        }
        created = cluster.request("POST", "/api/v1/schedules", json=body)
        assert created.status_code == 201, created.text

    time.sleep(STEADY_S)
    offset.write_text(f"+{FORWARD_S}\n")
    time.sleep(STEADY_S)
    offset.write_text(f"+{FORWARD_S - BACK_S}\n")
    stepped_back = time.monotonic()
    before_back = fire_times(runs(cluster, "every-all"))[-1]
    # Fire times already fired are not fired again: the schedule resumes once the clock has
    # come round to its next one, BACK_S later.
    wait_for(
        lambda: fire_times(runs(cluster, "every-all"))[-1] > before_back,
        BACK_S + 30,
        "the schedule to fire again after the step back",
    )
    resumed_s = time.monotonic() - stepped_back
    time.sleep(STEADY_S)

    every_all, every_once = runs(cluster, "every-all"), runs(cluster, "every-once")
    states = {
        cluster.wait_finished(run["job"]["id"], timeout_s=30)["state"]
        for run in every_all + every_once
        if run["outcome"] != "skipped"
    }
    all_times = fire_times(every_all)
    once_times = fire_times(every_once)
    twice = len(all_times) - len(set(all_times)) + len(once_times) - len(set(once_times))
    gaps_all = [
        (a, b) for a, b in itertools.pairwise(all_times) if (b - a).total_seconds() != INTERVAL_S
    ]
    skipped = fire_times(every_once, "skipped")
    gaps_once = [
        (a, b) for a, b in itertools.pairwise(once_times) if (b - a).total_seconds() != INTERVAL_S
    ]
    # A gap in the runs is said, when the run after it was kept and the first time in the
    # gap is listed as skipped with the reason.
    silent = sum(
        1
        for a, _ in gaps_once
        if a.timestamp() + INTERVAL_S not in {s.timestamp() for s in skipped}
    ) + len(gaps_all)
    missed_all = max(0, round(FORWARD_S / INTERVAL_S) - 1)
    record("clock.forward_s", FORWARD_S, "s", "server wall clock stepped forward (libfaketime)")
    record("clock.back_s", BACK_S, "s", "then stepped back")
    record("clock.fired_twice", twice, "fire times", "two jobs for one (schedule, fire time)")
    record("clock.skipped_silently", silent, "gaps", "fire times neither run nor listed skipped")
    record("clock.misfire_all_runs", len(all_times), "runs", f"misfire all, every {INTERVAL_S:g} s")
    record("clock.misfire_once_skips", len(skipped), "listed", "misfire once: skip records")
    record(
        "clock.resumed_after_back_s", round(resumed_s, 2), "s", f"step back {BACK_S} s to next fire"
    )

    assert twice == 0, (all_times, once_times)
    assert gaps_all == [], "misfire=all must run every missed time"
    assert silent == 0, (gaps_once, skipped)
    # The step forward was felt: misfire=all ran the times it jumped over, misfire=once one.
    assert len(all_times) >= missed_all + 2 * STEADY_S / INTERVAL_S
    # One gap for the jump; a loaded machine may add one (a fire so late it is a misfire),
    # which must be listed as well: each gap has its skip record.
    assert gaps_once and len(skipped) == len(gaps_once), (gaps_once, skipped)
    reasons = [run.get("reason") or "" for run in every_once if run["outcome"] == "skipped"]
    assert "missed" in reasons[0], reasons
    assert states == {"succeeded"}, states
