"""`rota dev` killed with SIGKILL takes its server and workers with it: on Linux through
PR_SET_PDEATHSIG, elsewhere (and here when forced) through the parent pipe watchdog."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import psutil
import pytest

from rota import Client
from rota.errors import RotaError
from tests.client.live import free_port

pytestmark = pytest.mark.e2e

GONE_TIMEOUT_S = 60.0
START_TIMEOUT_S = 90.0
"""Generous: a loaded CI machine may take long to start a server and two workers."""


def wait_online(client: Client, count: int) -> None:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            if sum(w["state"] == "online" for w in client.workers()) == count:
                return
        except RotaError:
            pass
        time.sleep(0.2)
    pytest.fail(f"{count} workers did not come online in {START_TIMEOUT_S} s")


CHILD_CODE = textwrap.dedent(
    """
    import os, sys, time
    from rota.cli.orphans import watch_parent
    assert watch_parent() is not None
    with open(sys.argv[1], "w") as out:
        out.write(str(os.getpid()))
    time.sleep(600)
    """
)


def wait_gone(pids: list[int]) -> list[int]:
    """Wait until none of the processes runs (zombies count as gone); return the survivors."""
    deadline = time.monotonic() + GONE_TIMEOUT_S
    while True:
        alive = [pid for pid in pids if _running(pid)]
        if not alive or time.monotonic() > deadline:
            return alive
        time.sleep(0.1)


def _running(pid: int) -> bool:
    try:
        return psutil.Process(pid).status() != psutil.STATUS_ZOMBIE
    except psutil.NoSuchProcess:
        return False


def test_dev_killed_with_sigkill_takes_its_server_and_workers_down(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", "dev", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    children: list[int] = []
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            wait_online(client, 2)
        children = [child.pid for child in psutil.Process(dev.pid).children()]
        assert len(children) >= 3, children  # the server and two workers
        dev.send_signal(signal.SIGKILL)
        dev.wait(timeout=10)
        assert wait_gone(children) == []
    finally:
        for pid in children:
            if _running(pid):
                os.kill(pid, signal.SIGKILL)
        if dev.poll() is None:
            dev.kill()
            dev.wait()


def test_the_pipe_watchdog_stops_a_child_whose_parent_was_killed(tmp_path: Path) -> None:
    """The mechanism for systems without prctl, forced here: a parent that starts a `rota`
    child through the pipe, then is killed with SIGKILL."""
    pid_file = tmp_path / "child.pid"
    parent_code = textwrap.dedent(
        f"""
        import sys, time
        from rota.cli.orphans import ParentLink
        link = ParentLink(use_prctl=False)
        child = link.popen([sys.executable, "-c", {CHILD_CODE!r}, {str(pid_file)!r}])
        time.sleep(600)
        """
    )
    parent = subprocess.Popen([sys.executable, "-c", parent_code])
    try:
        deadline = time.monotonic() + GONE_TIMEOUT_S
        while not pid_file.exists() or not pid_file.read_text().strip():
            assert parent.poll() is None and time.monotonic() < deadline
            time.sleep(0.05)
        child = int(pid_file.read_text())
        assert _running(child)
        parent.send_signal(signal.SIGKILL)
        parent.wait(timeout=10)
        assert wait_gone([child]) == []
    finally:
        if parent.poll() is None:
            parent.kill()
            parent.wait()
