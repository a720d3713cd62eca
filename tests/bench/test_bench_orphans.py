"""A `rota bench` killed with SIGKILL (as a test runner's timeout does) takes its server and
workers down with it, so no stray processes keep loading the machine."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import psutil
import pytest

ROTA = str(Path(sys.executable).with_name("rota"))

pytestmark = [pytest.mark.e2e, pytest.mark.bench_smoke, pytest.mark.timeout(300)]


def _descendants(pid: int) -> list[psutil.Process]:
    try:
        return psutil.Process(pid).children(recursive=True)
    except psutil.NoSuchProcess:
        return []


def test_a_bench_killed_with_sigkill_leaves_no_server_or_worker(tmp_path: Path) -> None:
    bench = subprocess.Popen(
        [ROTA, "bench", "throughput", "--jobs", "200000", "--runs", "1"],
        cwd=tmp_path,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[psutil.Process] = []
    try:
        deadline = time.monotonic() + 120  # tells a fault from a loaded machine
        while time.monotonic() < deadline and not children:
            children = [
                child
                for child in _descendants(bench.pid)
                if any(word in child.cmdline() for word in ("server", "worker"))
            ]
            time.sleep(0.2)
        assert children, "the bench started no server"
        os.kill(bench.pid, signal.SIGKILL)
        bench.wait()
        _gone, alive = psutil.wait_procs(children, timeout=60)
        assert alive == [], [child.cmdline() for child in alive]
    finally:
        if bench.poll() is None:
            bench.kill()
        for child in children:
            if child.is_running():
                child.kill()
