"""`rota device` without a server: each wrong flag is one clear line, never a traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest


def _device(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "rota.cli.main", "device", *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=cwd,
    )


@pytest.mark.parametrize(
    ("args", "words"),
    [
        ((), "Invalid value for --name: name the device"),
        (("--name", "no spaces"), "worker.name: 'no spaces' must be"),
        (("--name", "pi", "--quiet-hours", "22-07"), "quiet hours '22-07' must look like"),
        (("--name", "pi", "--quiet-hours", "25:00-01:00"), "not a time of day"),
        (("--name", "pi", "--horizon", "10x"), "--horizon: '10x' is not a duration"),
        (("--name", "pi", "--horizon", "8d"), "horizon_s"),
    ],
)
def test_bad_flags_are_one_clear_line(args: tuple[str, ...], words: str, tmp_path: Path) -> None:
    done = _device(*args, cwd=tmp_path)
    assert done.returncode in (1, 2), done.stderr
    assert done.stderr.startswith("rota: error: ") and words in done.stderr
    assert "Traceback" not in done.stderr


def test_a_broken_file_of_held_reminders_is_named(tmp_path: Path) -> None:
    broken = tmp_path / "pi.json"
    broken.write_text("not json")
    done = _device(
        "--name", "pi", "--holdings", str(broken), "--server", "http://127.0.0.1:9", cwd=tmp_path
    )
    assert done.returncode == 2
    assert done.stderr.startswith(f"rota device: error: {broken} is not a device's file")
    assert "Traceback" not in done.stderr
