"""`rota bench`: measure end-to-end throughput on a store, with real server and worker processes.

It starts its own server (on a temporary SQLite file, or the database given) and workers on a
free loopback port, submits jobs in bulk, waits until every one has finished, and reports the
rates of each run and their median. Nothing it starts outlives it.
"""

from __future__ import annotations

import json
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Annotated, Any

import typer
from rich.table import Table

from rota.cli.common import EXIT_FAILURE, error_line
from rota.cli.dev import Child
from rota.cli.output import stderr, stdout
from rota.errors import RotaError
from rota.sync import Client

QUEUE = "rota-bench"
READY_TIMEOUT_S = 30.0
POLL_S = 0.02


@dataclass(frozen=True, kw_only=True, slots=True)
class RunResult:
    jobs: int
    submit_s: float
    total_s: float
    failed: int

    @property
    def submitted_per_s(self) -> float:
        return self.jobs / self.submit_s

    @property
    def done_per_s(self) -> float:
        return self.jobs / self.total_s


def bench(
    db: Annotated[
        str | None,
        typer.Option(help="SQLite file or postgresql:// DSN (default: a temporary SQLite file)."),
    ] = None,
    jobs: Annotated[int, typer.Option(min=1, help="Jobs per run.")] = 5000,
    workers: Annotated[int, typer.Option(min=1, help="Worker processes.")] = 2,
    concurrency: Annotated[int, typer.Option(min=1, help="Jobs each worker runs at once.")] = 8,
    runs: Annotated[int, typer.Option(min=1, help="Runs; the median is reported.")] = 3,
    task: Annotated[str, typer.Option(help="The task each job runs (with no arguments).")] = (
        "rota.echo"
    ),
    batch: Annotated[int, typer.Option(min=1, max=10_000, help="Jobs per bulk submit.")] = 1000,
    as_json: Annotated[bool, typer.Option("--json", help="Print the results as JSON.")] = False,
) -> None:
    """Measure how many jobs per second go from submission to success, end to end."""
    folder = Path(tempfile.mkdtemp(prefix="rota-bench-"))
    database = db or str(folder / "bench.db")
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    command = [sys.executable, "-m", "rota.cli.main"]
    server = Child(label="server", argv=[*command, "server", "--db", database, "--port", str(port)])
    children = [
        Child(
            label=f"worker bench-{n}",
            argv=[
                *command,
                "worker",
                "--server",
                url,
                "--name",
                f"bench-{n}",
                "--queues",
                QUEUE,
                "--concurrency",
                str(concurrency),
            ],
        )
        for n in range(1, workers + 1)
    ]
    results: list[RunResult] = []
    try:
        _start(server, folder)
        with Client(url, timeout_s=60.0) as client:
            _wait(lambda: _healthy(client), "the server to start", server)
            for child in children:
                _start(child, folder)
            _wait(lambda: _online(client) >= workers, f"{workers} workers to connect", server)
            for number in range(1, runs + 1):
                results.append(_run(client, number, runs, jobs=jobs, task=task, batch=batch))
    except RotaError as exc:
        typer.echo(error_line(str(exc)), err=True)
        raise typer.Exit(EXIT_FAILURE) from None
    finally:
        _stop([*children, server])
        shutil.rmtree(folder, ignore_errors=True)
    _report(
        results,
        store=db or "sqlite (temporary file)",
        workers=workers,
        concurrency=concurrency,
        task=task,
        as_json=as_json,
    )


def _run(client: Client, number: int, runs: int, *, jobs: int, task: str, batch: int) -> RunResult:
    console = stderr()
    started = time.perf_counter()
    for first in range(0, jobs, batch):
        count = min(batch, jobs - first)
        client.submit_many([{"task": task, "queue": QUEUE} for _ in range(count)])
    submitted = time.perf_counter()
    with console.status(f"run {number}/{runs}: waiting for {jobs:,} jobs") as status:
        while (left := _unfinished(client)) > 0:
            status.update(f"run {number}/{runs}: {jobs - left:,}/{jobs:,} jobs done")
            time.sleep(POLL_S)
    finished = time.perf_counter()
    page = client.list_jobs(state="failed", queue=QUEUE, limit=500)
    return RunResult(
        jobs=jobs,
        submit_s=submitted - started,
        total_s=finished - started,
        failed=len(page["jobs"]),
    )


def _unfinished(client: Client) -> int:
    for queue in client.queues():
        if queue["queue"] == QUEUE:
            return int(queue["pending"]) + int(queue["running"])
    return 0


def _report(
    results: list[RunResult],
    *,
    store: str,
    workers: int,
    concurrency: int,
    task: str,
    as_json: bool,
) -> None:
    done = statistics.median(result.done_per_s for result in results)
    submitted = statistics.median(result.submitted_per_s for result in results)
    if as_json:
        payload: dict[str, Any] = {
            "store": store,
            "workers": workers,
            "concurrency": concurrency,
            "task": task,
            "runs": [asdict(result) for result in results],
            "median_done_per_s": done,
            "median_submitted_per_s": submitted,
        }
        typer.echo(json.dumps(payload, indent=2))
        return
    table = Table(title=f"{task} on {store}: {workers} worker(s) x {concurrency} slots")
    for column in ("run", "jobs", "submitted/s", "done/s", "failed"):
        table.add_column(column, justify="right")
    for number, result in enumerate(results, 1):
        table.add_row(
            str(number),
            f"{result.jobs:,}",
            f"{result.submitted_per_s:,.0f}",
            f"{result.done_per_s:,.0f}",
            str(result.failed),
        )
    table.add_row("median", "", f"{submitted:,.0f}", f"{done:,.0f}", "", style="bold")
    stdout().print(table)
    if any(result.failed for result in results):
        raise typer.Exit(EXIT_FAILURE)


def _start(child: Child, folder: Path) -> None:
    log = folder / (child.label.replace(" ", "-") + ".log")
    with log.open("ab") as out:
        child.process = subprocess.Popen(
            child.argv, stdout=out, stderr=subprocess.STDOUT, start_new_session=True
        )


def _healthy(client: Client) -> bool:
    try:
        client.health()
    except RotaError:
        return False
    return True


def _online(client: Client) -> int:
    return sum(1 for worker in client.workers() if worker["state"] == "online")


def _wait(ready: Any, what: str, server: Child) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_S
    while not ready():
        if server.exit_code() is not None:
            raise RotaError(f"the bench server exited while waiting for {what}")
        if time.monotonic() > deadline:
            raise RotaError(f"timed out waiting for {what}")
        time.sleep(0.1)


def _stop(children: list[Child]) -> None:
    for child in children:
        child.signal(signal.SIGTERM)
    for child in children:
        if not child.wait(10.0):
            child.signal(signal.SIGKILL)
            child.wait(5.0)


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        port: int = probe.getsockname()[1]
        return port
