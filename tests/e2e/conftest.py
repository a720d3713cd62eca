"""Real `rota` processes on loopback ports, and helpers to start, kill and wait for them."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import httpx
import pytest

HERE = Path(__file__).parent
ROTA = str(Path(sys.executable).with_name("rota"))

pytestmark = pytest.mark.e2e

LATE_S = 2.0
"""How late these tests let a due job start. The product aims well under 100 ms
(docs/schedules.md; rota_job_lateness_seconds in /metrics measures it in production), but a
loaded 2-core CI machine can starve a process for a good part of a second, and a test must
not fail for that. That the dispatcher wakes at a job's run_at rather than at its next poll
is checked without the wall clock in tests/server/test_loops.py."""
EARLY_S = 0.005
"""How early a job may seem to start: the worker's and the server's clocks are read apart."""


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_for(predicate: Callable[[], Any], timeout_s: float = 15.0, what: str = "it") -> Any:
    """Poll until predicate() is truthy and return its value; fail the test after timeout_s."""
    deadline = time.monotonic() + timeout_s
    while True:
        value = predicate()
        if value:
            return value
        if time.monotonic() > deadline:
            pytest.fail(f"timed out after {timeout_s} s waiting for {what}")
        time.sleep(0.05)


@dataclass
class Cluster:
    """One test's processes: a server on an SQLite file and any number of workers."""

    tmp_path: Path
    port: int = field(default_factory=free_port)
    server_env: dict[str, str] = field(default_factory=dict)
    dsn: str | None = None
    """The database the servers share; None means an SQLite file in tmp_path."""
    anonymous: bool = True
    """Start servers with --anonymous (no tokens); False: they want tokens."""
    token: str | None = None
    """The token the REST helpers send."""
    server: subprocess.Popen[bytes] | None = None
    servers: dict[int, subprocess.Popen[bytes]] = field(default_factory=dict)
    workers: dict[str, subprocess.Popen[bytes]] = field(default_factory=dict)
    _all: list[subprocess.Popen[bytes]] = field(default_factory=list)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    @property
    def db(self) -> Path:
        return self.tmp_path / "rota.db"

    @property
    def record_file(self) -> Path:
        return self.tmp_path / "record.txt"

    def _env(self, extra: dict[str, str]) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        env.update(extra)
        return env

    def _spawn(self, args: list[str], env: dict[str, str], log: str) -> subprocess.Popen[bytes]:
        with open(self.tmp_path / log, "ab") as out:  # the child keeps its own descriptor
            proc = subprocess.Popen(
                [ROTA, *args], env=env, stdout=out, stderr=subprocess.STDOUT, cwd=self.tmp_path
            )
        self._all.append(proc)
        return proc

    def start_server(self, *, port: int | None = None, **env: str) -> subprocess.Popen[bytes]:
        """Start a server (on the cluster's port unless told another) and wait until it answers."""
        self.server_env.update(env)
        port = port or self.port
        proc = self._spawn(
            [
                "server",
                "--db",
                self.dsn or str(self.db),
                "--port",
                str(port),
                *(["--anonymous"] if self.anonymous else []),
            ],
            self._env(self.server_env),
            f"server-{port}.log",
        )
        if port == self.port:
            self.server = proc
        self.servers[port] = proc
        url = f"http://127.0.0.1:{port}"
        wait_for(lambda: self._healthy(url), 30, f"the server on {url} to answer /healthz")
        return proc

    def _healthy(self, url: str) -> bool:
        try:
            return httpx.get(url + "/healthz", timeout=1).status_code == 200
        except httpx.HTTPError:
            return False

    def start_worker(
        self,
        name: str,
        *,
        concurrency: int = 4,
        wait: bool = True,
        extra: tuple[str, ...] = (),
        servers: list[str] | None = None,
        env: dict[str, str] | None = None,
    ) -> subprocess.Popen[bytes]:
        """Start a worker importing e2e_tasks; with `servers`, it fails over between them;
        `env` adds to its environment (ROTA_* settings, say)."""
        proc = self._spawn(
            [
                "worker",
                "--server",
                ",".join(servers or [self.url]),
                "--name",
                name,
                "--concurrency",
                str(concurrency),
                "--import",
                "e2e_tasks",
                *extra,
            ],
            self._env(
                {"E2E_WORKER_NAME": name, "E2E_RECORD_FILE": str(self.record_file), **(env or {})}
            ),
            f"worker-{name}.log",
        )
        self.workers[name] = proc
        if wait:
            # A bound that tells a fault from a loaded machine, not a speed.
            wait_for(lambda: self.worker_state(name) == "online", 60, f"worker {name} online")
        return proc

    def worker_state(self, name: str) -> str | None:
        for worker in self.get("/api/v1/workers")["workers"]:
            if worker["name"] == name:
                return str(worker["state"])
        return None

    def kill(self, proc: subprocess.Popen[bytes], sig: int = signal.SIGKILL) -> None:
        proc.send_signal(sig)
        if sig in (signal.SIGKILL, signal.SIGTERM):
            proc.wait(timeout=60)

    # --- REST helpers --------------------------------------------------------------------

    def request(self, method: str, path: str, **kwargs: Any) -> httpx.Response:
        if self.token is not None:
            kwargs["headers"] = {
                "Authorization": f"Bearer {self.token}",
                **kwargs.get("headers", {}),
            }
        return httpx.request(method, self.url + path, timeout=70, **kwargs)

    def get(self, path: str, **kwargs: Any) -> Any:
        response = self.request("GET", path, **kwargs)
        response.raise_for_status()
        return response.json()

    def submit(self, body: Any) -> Any:
        response = self.request("POST", "/api/v1/jobs", json=body)
        assert response.status_code == 201, response.text
        return response.json()

    def job(self, job_id: str) -> dict[str, Any]:
        return dict(self.get(f"/api/v1/jobs/{job_id}"))

    def events(self, job_id: str) -> list[dict[str, Any]]:
        return list(self.get(f"/api/v1/jobs/{job_id}/events")["events"])

    def wait_finished(self, job_id: str, timeout_s: float = 30) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            wait = max(0.1, min(10.0, deadline - time.monotonic()))
            job = dict(self.get(f"/api/v1/jobs/{job_id}/result", params={"wait": wait}))
            if job["state"] in {"succeeded", "failed", "cancelled", "expired"}:
                return job
        pytest.fail(f"job {job_id} did not finish in {timeout_s} s: {self.job(job_id)}")

    def all_jobs(self, **filters: str) -> list[dict[str, Any]]:
        """Return every job matching the filters, newest first, page by page."""
        jobs: list[dict[str, Any]] = []
        cursor = None
        while True:
            params: dict[str, Any] = {"limit": 500, **filters}
            if cursor:
                params["cursor"] = cursor
            page = self.get("/api/v1/jobs", params=params)
            jobs += page["jobs"]
            cursor = page["next_cursor"]
            if not cursor:
                return jobs

    def count_jobs(self) -> int:
        return len(self.all_jobs())

    def stop(self) -> None:
        for proc in self._all:
            if proc.poll() is None:
                proc.kill()
        for proc in self._all:
            try:
                proc.wait(timeout=10)
            except subprocess.TimeoutExpired:
                pass

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-4000:]}"
            for path in sorted(self.tmp_path.glob("*.log"))
        )


@pytest.fixture
def cluster(tmp_path: Path, request: pytest.FixtureRequest) -> Iterator[Cluster]:
    """A Cluster whose processes are all killed when the test ends; logs shown on failure."""
    made = Cluster(tmp_path)
    try:
        yield made
    finally:
        made.stop()
        report = getattr(request.node, "rep_call", None)
        if report is not None and report.failed:
            sys.stderr.write(made.logs())


@pytest.hookimpl(wrapper=True, tryfirst=True)
def pytest_runtest_makereport(item: pytest.Item, call: pytest.CallInfo[None]) -> Any:
    report = yield
    setattr(item, "rep_" + report.when, report)
    return report
