"""Run the bench's workloads on other Python task queues, each in a virtual environment.

A peer's venv is made on first use under the cache folder (pip from the package index), and
kept. Its driver files (`rota/bench/peers/*.py`) are copied into a temporary folder and run
with the venv's Python; the driver starts the peer's own worker processes and prints one
JSON result, which becomes a WorkloadResult.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import tempfile
import threading
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import IO, Any

from rota.bench.cache import DEFAULT_CACHE as DEFAULT_CACHE
from rota.bench.progress import Bar, bar
from rota.bench.results import BenchError, WorkloadResult

PEERS: dict[str, tuple[str, ...]] = {
    "celery": ("celery[redis]>=5.3", "redis>=5"),
    "rq": ("rq>=1.16", "redis>=5"),
    "dramatiq": ("dramatiq[redis]>=1.16", "redis>=5"),
    "huey": ("huey>=2.5", "redis>=5"),
    "taskiq": ("taskiq>=0.11", "taskiq-redis>=1.0", "redis>=5"),
    "procrastinate": ("procrastinate>=3.0", "psycopg[binary,pool]>=3.1", "redis>=5"),
}
"""Each peer's requirements, installed into its venv."""

RUN_TIMEOUT_S = 4 * 3600.0


@dataclass(frozen=True, kw_only=True, slots=True)
class PeerSetting:
    """Where the peers' venvs live, and the services they use."""

    cache: Path
    redis_url: str
    postgres_dsn: str | None


def parse_peers(text: str) -> list[str]:
    """Return the peers named in a comma list ("all" for every one); BenchError if unknown."""
    names = [name.strip() for name in text.split(",") if name.strip()]
    if names == ["all"]:
        return list(PEERS)
    unknown = [name for name in names if name not in PEERS]
    if unknown:
        raise BenchError(f"unknown peer(s) {', '.join(unknown)}; known: {', '.join(PEERS)}")
    return names


def venv_python(peer: str, cache: Path) -> Path:
    """Return the Python of the peer's venv, making and filling the venv first if needed."""
    folder = cache / peer
    python = folder / "bin" / "python"
    stamp = folder / ".installed"
    wanted = " ".join(PEERS[peer])
    if python.exists() and stamp.exists() and stamp.read_text().strip() == wanted:
        return python
    with bar(f"{peer}: making its virtual environment", None):
        shutil.rmtree(folder, ignore_errors=True)
        folder.parent.mkdir(parents=True, exist_ok=True)
        _check([sys.executable, "-m", "venv", str(folder)], f"cannot make a venv for {peer}")
        _check(
            [str(python), "-m", "pip", "install", "--quiet", *PEERS[peer]],
            f"cannot install {peer}",
        )
        stamp.write_text(wanted + "\n")
    return python


def run(peer: str, workload: str, params: dict[str, Any], setting: PeerSetting) -> WorkloadResult:
    """Run one workload on one peer and return its result."""
    if peer == "procrastinate" and not setting.postgres_dsn:
        raise BenchError("procrastinate needs PostgreSQL: give --postgres or ROTA_BENCH_POSTGRES")
    python = venv_python(peer, setting.cache)
    folder = Path(tempfile.mkdtemp(prefix=f"rota-bench-{peer}-"))
    try:
        source = resources.files("rota.bench.peers")
        for item in source.iterdir():
            if item.name.endswith(".py") and item.name != "__init__.py":
                (folder / item.name).write_text(item.read_text())
        env = {key: value for key, value in os.environ.items() if not key.startswith("ROTA_")}
        env.update(BENCH_REDIS=setting.redis_url, PYTHONPATH=str(folder), PYTHONUNBUFFERED="1")
        if setting.postgres_dsn:
            env["BENCH_POSTGRES"] = setting.postgres_dsn
        with bar(f"{peer} {workload}", None) as progress:
            process = subprocess.Popen(
                [str(python), str(folder / "harness.py"), peer, workload, json.dumps(params)],
                cwd=folder,
                env=env,
                stdout=subprocess.PIPE,
                stderr=subprocess.PIPE,
                start_new_session=True,
            )
            errors: list[str] = []
            assert process.stderr is not None
            reader = threading.Thread(
                target=_follow, args=(process.stderr, progress, errors), daemon=True
            )
            reader.start()
            try:
                out, _ = process.communicate(timeout=RUN_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                raise BenchError(f"{peer} {workload} did not finish in time") from None
            reader.join(5)
        if process.returncode != 0:
            raise BenchError(f"{peer} {workload} failed: {''.join(errors)[-1500:]}")
        data = json.loads(out.decode().strip().splitlines()[-1])
        return WorkloadResult.from_dict(data)
    finally:
        shutil.rmtree(folder, ignore_errors=True)


def _follow(stream: IO[bytes], progress: Bar, errors: list[str]) -> None:
    for raw in stream:
        line = raw.decode(errors="replace")
        parts = line.split(maxsplit=3)
        if len(parts) >= 3 and parts[0] == "progress":
            try:
                total = None if parts[2] == "-" else float(parts[2])
                progress.update(float(parts[1]), total)
            except ValueError:
                pass
            continue
        errors.append(line)


def _check(argv: list[str], what: str) -> None:
    done = subprocess.run(argv, capture_output=True, check=False)
    if done.returncode != 0:
        raise BenchError(f"{what}: {done.stderr.decode(errors='replace')[-800:]}")
