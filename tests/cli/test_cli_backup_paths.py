"""`rota backup` and `rota restore` on paths they cannot write: one line, no traceback."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

import pytest

ROTA = str(Path(sys.executable).with_name("rota"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ROTA, *args], capture_output=True, text=True, timeout=60, check=False)


@pytest.fixture
def store(tmp_path: Path) -> Path:
    db = tmp_path / "rota.db"
    made = run("migrate", "--db", str(db))
    assert made.returncode == 0, made.stderr
    return db


def one_line_error(result: subprocess.CompletedProcess[str], words: str) -> None:
    assert result.returncode == 1, result.stdout
    assert result.stderr.startswith("rota: error:"), result.stderr
    assert "Traceback" not in result.stderr
    assert words in result.stderr, result.stderr


def test_backup_into_a_missing_folder_says_so(store: Path, tmp_path: Path) -> None:
    target = tmp_path / "missing" / "backup.db"
    one_line_error(run("backup", str(target), "--db", str(store)), "no such directory")


def test_backup_onto_a_folder_is_refused_even_with_force(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    one_line_error(run("backup", str(folder), "--db", str(store), "--force"), "is a folder")
    assert folder.is_dir() and not list(tmp_path.glob("*.partial"))


def test_restore_onto_a_folder_is_refused(store: Path, tmp_path: Path) -> None:
    folder = tmp_path / "folder"
    folder.mkdir()
    one_line_error(run("restore", str(store), "--db", str(folder), "--force"), "is a folder")
