"""`rota backup` of an SQLite store under load, and `rota restore` into a fresh server: every
job acknowledged before the backup began is there; bad backups and live stores are refused."""

from __future__ import annotations

import os
import sqlite3
import subprocess
import threading
import time
from pathlib import Path

import pytest

from rota import Client
from tests.e2e.conftest import ROTA, Cluster, free_port

pytestmark = pytest.mark.e2e


def rota(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    return subprocess.run(
        [ROTA, *args], cwd=cwd, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def test_a_backup_under_load_restores_every_acknowledged_job(
    cluster: Cluster, tmp_path: Path
) -> None:
    cluster.start_server()
    cluster.start_worker("w1", concurrency=4)
    acknowledged: list[str] = []
    lock = threading.Lock()
    stop = threading.Event()
    failures: list[BaseException] = []

    def submit() -> None:
        with Client(cluster.url, timeout_s=30) as client:
            n = 0
            while not stop.is_set():
                try:
                    if n % 5 == 0:
                        items = [{"task": "e2e.record", "args": [n * 100 + i]} for i in range(20)]
                        made = client.submit_many(items)
                    else:
                        made = [client.submit("e2e.record", [n * 100])]
                except BaseException as exc:  # reported below
                    failures.append(exc)
                    return
                with lock:  # acknowledged: the server answered 201
                    acknowledged.extend(job["id"] for job in made)
                n += 1

    submitters = [threading.Thread(target=submit) for _ in range(2)]
    for thread in submitters:
        thread.start()
    try:
        while len(acknowledged) < 300 and not failures:
            time.sleep(0.05)
        with lock:
            before = set(acknowledged)
        copy = tmp_path / "backups" / "rota-backup.db"
        copy.parent.mkdir()
        made = rota("backup", str(copy), "--db", str(cluster.db), cwd=tmp_path)
        time.sleep(0.5)  # the load goes on after the backup too
    finally:
        stop.set()
        for thread in submitters:
            thread.join(timeout=60)
    assert not failures, failures
    assert made.returncode == 0, made.stderr
    assert "backed up" in made.stdout
    assert len(acknowledged) > len(before)

    # The backup is not the live file: another backup to the same name is refused.
    again = rota("backup", str(copy), "--db", str(cluster.db), cwd=tmp_path)
    assert again.returncode == 1 and "--force" in again.stderr

    # Restoring over the running server's store is refused, even with --force.
    live = rota("restore", str(copy), "--db", str(cluster.db), "--force", cwd=tmp_path)
    assert live.returncode == 1 and "in use" in live.stderr, live.stderr

    fresh = tmp_path / "fresh" / "rota.db"
    fresh.parent.mkdir()
    restored = rota("restore", str(copy), "--db", str(fresh), cwd=tmp_path)
    assert restored.returncode == 0, restored.stderr
    port = free_port()
    cluster.dsn = str(fresh)
    cluster.start_server(port=port)
    with Client(f"http://127.0.0.1:{port}") as client:
        ids: set[str] = set()
        cursor = None
        while True:
            page = client.list_jobs(limit=500, cursor=cursor)
            ids |= {job["id"] for job in page["jobs"]}
            cursor = page["next_cursor"]
            if not cursor:
                break
    missing = before - ids
    assert not missing, f"{len(missing)} acknowledged jobs are missing from the restored store"
    assert ids <= set(acknowledged)


def test_restore_refuses_what_it_cannot_trust(cluster: Cluster, tmp_path: Path) -> None:
    cluster.start_server()
    cluster.submit({"task": "rota.echo", "args": [1]})
    good = tmp_path / "good.db"
    assert rota("backup", str(good), "--db", str(cluster.db), cwd=tmp_path).returncode == 0
    target = tmp_path / "target.db"

    garbage = tmp_path / "garbage.db"
    garbage.write_bytes(os.urandom(8192))
    result = rota("restore", str(garbage), "--db", str(target), cwd=tmp_path)
    assert result.returncode == 1 and "not a usable SQLite database" in result.stderr

    newer = tmp_path / "newer.db"
    newer.write_bytes(good.read_bytes())
    with sqlite3.connect(newer) as conn:
        conn.execute("INSERT INTO schema_version (version, applied_at) VALUES (999, 0)")
    result = rota("restore", str(newer), "--db", str(target), cwd=tmp_path)
    assert result.returncode == 1 and "newer than this Rota" in result.stderr

    foreign = tmp_path / "foreign.db"
    with sqlite3.connect(foreign) as conn:
        conn.execute("CREATE TABLE notes (text TEXT)")
    result = rota("restore", str(foreign), "--db", str(target), cwd=tmp_path)
    assert result.returncode == 1 and "not a Rota store" in result.stderr
    assert not target.exists()

    assert rota("restore", str(good), "--db", str(target), cwd=tmp_path).returncode == 0
    result = rota("restore", str(good), "--db", str(target), cwd=tmp_path)
    assert result.returncode == 1 and "--force" in result.stderr
    assert rota("restore", str(good), "--db", str(target), "--force", cwd=tmp_path).returncode == 0

    result = rota("backup", "x.db", "--db", "postgresql://nobody@127.0.0.1/none", cwd=tmp_path)
    assert result.returncode == 1 and "pg_dump" in result.stderr
