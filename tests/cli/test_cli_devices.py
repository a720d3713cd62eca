"""`rota devices`: a real worker process with the tag `device`, as the CLI lists it."""

from __future__ import annotations

import json
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from rota.cli.main import app
from tests.client.live import LiveServer, running_worker


def rota(live: LiveServer, *args: str) -> Result:
    return CliRunner().invoke(app, [*args, "--server", live.url])


@pytest.fixture
def kitchen(live_server: LiveServer, tmp_path: Path) -> Iterator[subprocess.Popen[bytes]]:
    """A real `rota worker` tagged as the device `kitchen`, once it sent a heartbeat."""
    with running_worker(
        live_server,
        tmp_path / "kitchen.log",
        ["--name", "kitchen", "--tags", "device,device:kitchen", "--queues", "reminders"],
        lambda worker: worker.name == "kitchen" and "clock_offset_s" in worker.resources,
    ) as process:
        yield process


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
