"""`rota devices`: a real worker process with the tag `device`, as the CLI lists it."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rota.cli.main import app
from tests.client.live import ROOT, START_TIMEOUT_S, LiveServer


def rota(live: LiveServer, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--server", live.url])


@pytest.fixture
def kitchen(live_server: LiveServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `rota worker` tagged as the device `kitchen`, once it sent a heartbeat."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    log = (tmp_path / "kitchen.log").open("wb")
    process = subprocess.Popen(
        [
            *(sys.executable, "-m", "rota.cli.main", "worker", "--server", live_server.url),
            *("--name", "kitchen", "--tags", "device,device:kitchen", "--queues", "reminders"),
        ],
        env=env,
        cwd=ROOT,
        stdout=log,
        stderr=subprocess.STDOUT,
    )
    try:
        deadline = time.monotonic() + START_TIMEOUT_S
        while not any(
            worker.name == "kitchen" and "clock_offset_s" in worker.resources
            for worker in live_server.run(live_server.store.list_workers())
        ):
            if process.poll() is not None or time.monotonic() > deadline:
                log.close()
                raise RuntimeError((tmp_path / "kitchen.log").read_text(errors="replace"))
            time.sleep(0.05)
        yield process
    finally:
        process.terminate()
        try:
            process.wait(START_TIMEOUT_S)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        log.close()


def test_devices_ls_lists_a_device_with_its_clock_offset(
    live_server: LiveServer, kitchen: subprocess.Popen[bytes]
) -> None:
    listed = rota(live_server, "devices", "ls", "--output", "json")
    assert listed.exit_code == 0, listed.stderr
    [device] = json.loads(listed.stdout)
    assert (device["name"], device["online"], device["held"], device["next"]) == (
        "kitchen",
        True,
        0,
        None,
    )
    # Its heartbeats carry its clock, the same clock as the server's here.
    assert abs(device["clock_offset_s"]) < 1.0
    table = rota(live_server, "devices", "ls")
    assert table.exit_code == 0, table.stderr
    header, row = table.stdout.splitlines()[:2]
    assert header.split() == ["NAME", "STATE", "SEEN", "HELD", "WAITING", "NEXT", "CLOCK"]
    assert row.split()[:2] == ["kitchen", "online"]
    shown = rota(live_server, "devices", "show", "kitchen", "--json")
    assert json.loads(shown.stdout)["name"] == "kitchen"


def test_devices_without_any_and_an_unknown_one(live_server: LiveServer) -> None:
    empty = rota(live_server, "devices", "ls")
    assert empty.exit_code == 0
    assert "no devices" in empty.stdout
    assert json.loads(rota(live_server, "devices", "ls", "-o", "json").stdout) == []
    missing = rota(live_server, "devices", "show", "attic")
    assert missing.exit_code == 1
    assert "no device named 'attic'" in missing.stderr
    assert "Traceback" not in missing.stderr
