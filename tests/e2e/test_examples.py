"""Every script in examples/ runs as written against a real server and worker."""

from __future__ import annotations

import ast
import os
import subprocess
import sys
from collections import Counter
from collections.abc import Iterator
from pathlib import Path

import pytest

import rota
from tests.e2e.conftest import Cluster, wait_for

EXAMPLES = Path(__file__).resolve().parents[2] / "examples"
SCRIPTS = sorted(EXAMPLES.glob("*.py"))


@pytest.fixture(scope="module")
def served(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """One server and one worker for the module's tests; the worker imports the schedule
    example (and the e2e tasks)."""
    cluster = Cluster(tmp_path_factory.mktemp("examples"))
    try:
        with pytest.MonkeyPatch.context() as patch:
            patch.setenv("PYTHONPATH", str(EXAMPLES))
            cluster.start_server()
            cluster.start_worker("w1", extra=("--import", "schedule"))
        yield cluster
    finally:
        cluster.stop()


def run(cluster: Cluster, script: str) -> str:
    """Run an example as a user would, the server named only by ROTA_SERVER; return stdout."""
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    environ["ROTA_SERVER"] = cluster.url
    result = subprocess.run(
        [sys.executable, str(EXAMPLES / script)],
        env=environ,
        cwd=cluster.tmp_path,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    return result.stdout


def test_examples_are_short_and_use_only_the_public_api() -> None:
    assert [path.name for path in SCRIPTS] == [
        "batch.py",
        "chain.py",
        "list_jobs.py",
        "machines.py",
        "schedule.py",
    ]
    for path in SCRIPTS:
        text = path.read_text()
        assert len(text.splitlines()) < 40, path.name
        for node in ast.walk(ast.parse(text)):
            if isinstance(node, ast.ImportFrom):
                assert not (node.module or "").startswith("rota"), (path.name, node.module)
            elif isinstance(node, ast.Attribute) and isinstance(node.value, ast.Name):
                if node.value.id == "rota":
                    assert node.attr in rota.__all__, (path.name, node.attr)


def test_batch(served: Cluster) -> None:
    out = run(served, "batch.py").splitlines()
    assert out[0] == "submitted 5 jobs"
    assert out[1].split() == [
        "apple",
        "succeeded",
        "3a7bd3e2360a3d29eea436fcfb7e44c735d117c42d1c1835420b6b9942dd4f1b",
    ]
    assert len(out) == 6 and all(" succeeded " in line for line in out[1:])


def test_list_jobs(served: Cluster) -> None:
    done = served.wait_finished(served.submit({"task": "rota.echo", "args": [1]})["id"])
    failed = served.wait_finished(
        served.submit({"task": "rota.fail", "args": ["no"], "max_attempts": 1})["id"]
    )
    out = run(served, "list_jobs.py").splitlines()
    assert out[0].split() == [failed["id"], "failed", "rota.fail"]
    assert out[1].split() == [done["id"], "succeeded", "rota.echo"]
    every = served.all_jobs()
    assert [line.split()[0] for line in out[:-1]] == [job["id"] for job in every]
    counts = Counter(job["state"] for job in every)
    assert out[-1] == ", ".join(f"{state}: {n}" for state, n in sorted(counts.items()))
    assert "failed: 1" in out[-1]


def test_machines(served: Cluster) -> None:
    wait_for(lambda: served.get("/api/v1/workers")["workers"][0]["resources"], 30, "figures")
    out = run(served, "machines.py").splitlines()
    assert out[0].startswith("w1 (online, on ")
    assert [line.split()[0] for line in out[1:5]] == ["cpu", "memory", "disk", "gpu"]
    assert "% of " in out[1] and " GiB of " in out[2]


def test_schedule_declared_in_code(served: Cluster) -> None:
    wait_for(lambda: served.get("/api/v1/schedules")["schedules"], 30, "the schedule")
    out = run(served, "schedule.py").splitlines()
    assert out[0] == "tidy: examples.tidy every 600 s"
    assert out[1].startswith("next run at 20")
    assert out[2] == "ran now: tidied"


def test_chain(served: Cluster) -> None:
    out = run(served, "chain.py").splitlines()
    text = "Rota runs jobs in order when you chain them"
    assert out[0] == f"rota.echo    -> {text}"
    digest = out[1].split()[-1]
    assert len(digest) == 64
    assert out[-1] == f"done: {{'text': '{text}', 'digest': '{digest[:12]}'}}"
