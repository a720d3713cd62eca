"""`rota migrate` on a new SQLite file, again on the same file, and on a bad path."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

ROTA = str(Path(sys.executable).with_name("rota"))


def run(*args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([ROTA, *args], capture_output=True, text=True, timeout=60, check=False)


def test_migrate_applies_once_then_nothing(tmp_path: Path) -> None:
    db = str(tmp_path / "rota.db")
    first = run("migrate", "--db", db)
    assert first.returncode == 0, first.stderr
    assert "applied 0 migration" not in first.stdout and "up to date" in first.stdout
    second = run("migrate", "--db", db)
    assert second.returncode == 0 and "applied 0 migration(s)" in second.stdout


def test_migrate_reports_a_bad_path_in_one_line(tmp_path: Path) -> None:
    failed = run("migrate", "--db", str(tmp_path / "missing" / "rota.db"))
    assert failed.returncode == 1
    assert failed.stderr.startswith("rota: error:") and "no such directory" in failed.stderr
    assert "Traceback" not in failed.stderr


def test_migrate_reports_a_folder_or_a_file_that_is_no_database_in_one_line(
    tmp_path: Path,
) -> None:
    text = tmp_path / "notes.txt"
    text.write_text("not a database\n" * 100)
    for db, reason in ((tmp_path, "it is a folder"), (text, "not a usable SQLite database")):
        failed = run("migrate", "--db", str(db))
        assert failed.returncode == 1, failed.stderr
        assert failed.stderr.startswith("rota: error:") and reason in failed.stderr
        assert "Traceback" not in failed.stderr and failed.stderr.count("\n") == 1


def test_migrate_reports_a_dsn_the_driver_cannot_use_in_one_line() -> None:
    for dsn in (
        "postgresql://rota@127.0.0.1:99999/rota",
        "postgresql://rota@[bad/rota",
        "postgresql://rota@127.0.0.1:5432/rota?sslmode=bogus",
    ):
        failed = run("migrate", "--db", dsn)
        assert failed.returncode == 1, failed.stderr
        assert failed.stderr.startswith("rota: error: "), dsn
        assert "database" in failed.stderr or "DSN" in failed.stderr, dsn
        assert "Traceback" not in failed.stderr and failed.stderr.count("\n") == 1, dsn
