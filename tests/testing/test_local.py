"""LocalRota and the pytest plugin: a real server and worker in this process."""

from __future__ import annotations

import os
import re
import subprocess
import sys
import threading
from pathlib import Path

import pytest

from rota import Rota
from rota.testing import LocalRota
from tests.testing.eager_app import add, app, flaky

DOCS = Path(__file__).resolve().parents[2] / "docs" / "testing.md"
FILE_BLOCK = re.compile(r"```(?:python|toml)\n# ([\w.]+)\n(.*?)```", re.S)


def test_a_real_server_and_worker_run_the_apps_tasks() -> None:
    saved = app.url
    with LocalRota(app.registry) as server:
        app.url = server.url
        try:
            assert add.submit(2, 3).result(timeout=30) == 5
            assert flaky.submit(1).result(timeout=30) == 2  # retried by the server's rules
            assert app.submit("rota.echo", "x").result(timeout=30) == "x"
            (worker,) = server.client.workers()
            assert worker["name"] == "rota-testing"
        finally:
            app.close()
            app.url = saved
    assert server.db == "memory:"


def test_declared_schedules_are_registered() -> None:
    declaring = Rota()

    @declaring.periodic(interval=3600, name="hourly")
    @declaring.task(name="tests.hourly")
    def hourly() -> None: ...

    with LocalRota(declaring.registry) as server:
        for _ in range(500):
            names = [schedule["name"] for schedule in server.client.schedules()]
            if names:
                break
            threading.Event().wait(0.02)
        assert names == ["hourly"]


def run_pytest(folder: Path) -> subprocess.CompletedProcess[str]:
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", "-p", "no:randomly"],
        cwd=folder,
        env=environ,
        capture_output=True,
        text=True,
        timeout=300,
    )


@pytest.mark.e2e
def test_the_example_of_docs_testing_md_passes_as_written(tmp_path: Path) -> None:
    files = FILE_BLOCK.findall(DOCS.read_text())
    assert [name for name, _ in files] == ["tasks.py", "pyproject.toml", "test_tasks.py"]
    for name, text in files:
        (tmp_path / name).write_text(text)
    result = run_pytest(tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "5 passed" in result.stdout


@pytest.mark.e2e
def test_the_fixtures_say_when_no_app_is_named(tmp_path: Path) -> None:
    (tmp_path / "test_x.py").write_text("def test_x(rota_eager):\n    pass\n")
    result = run_pytest(tmp_path)
    assert result.returncode != 0
    assert "set rota_app = 'module:attribute'" in result.stdout + result.stderr
