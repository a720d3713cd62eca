"""The CLI against a real server: submit, jobs, workers and queues."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time

import pytest
from typer.testing import CliRunner, Result

from rota.cli.main import app
from rota.jobs import Lease
from rota.store.base import AcquireRequest
from tests.client.live import LiveServer

MISSING_ID = "0190f5c2-0000-7000-8000-000000000000"


@pytest.fixture
def rota(live_server: LiveServer) -> RotaCommand:
    return RotaCommand(live_server)


class RotaCommand:
    """Runs `rota --server URL ...` in this process."""

    def __init__(self, live: LiveServer) -> None:
        self.live = live
        self.runner = CliRunner()

    def __call__(self, *args: str) -> Result:
        return self.runner.invoke(app, ["--server", self.live.url, *args])

    def submit(self, *args: str) -> str:
        result = self("submit", *args)
        assert result.exit_code == 0, result.stderr
        return result.stdout.strip()

    def job(self, job_id: str) -> dict[str, object]:
        return self.live.run(self.live.store.get_job(job_id)).to_dict()


def test_submit_prints_the_id_and_parses_arguments(rota: RotaCommand) -> None:
    job_id = rota.submit(
        "rota.echo", "Hello", "42", "[1, 2]", '{"a": null}', "-k", "n=3", "-k", "s=text"
    )
    job = rota.job(job_id)
    assert job["args"] == ["Hello", 42, [1, 2], {"a": None}]
    assert job["kwargs"] == {"n": 3, "s": "text"}
    assert job["state"] == "pending"


def test_submit_sends_the_job_options(rota: RotaCommand) -> None:
    options = ["--queue", "mail", "--priority", "5", "--delay", "10m", "--max-attempts", "7"]
    options += ["--timeout", "30", "--key", "k-1", "--target", "device:kitchen"]
    result = rota("submit", "rota.echo", *options, "--json")
    assert result.exit_code == 0, result.stderr
    job = json.loads(result.stdout)
    assert (job["queue"], job["priority"], job["max_attempts"]) == ("mail", 5, 7)
    assert (job["timeout_s"], job["idempotency_key"], job["target"]) == (
        30,
        "k-1",
        "device:kitchen",
    )
    assert job["run_at"] > job["created_at"]
    again = rota("submit", "rota.echo", *options)
    assert again.stdout.strip() == job["id"]
    other = rota("submit", "rota.echo", "other", "--key", "k-1")
    assert other.exit_code == 1
    assert other.stderr.startswith("rota: error: idempotency_key 'k-1' is held by job " + job["id"])


def test_submit_at_a_local_time_the_clock_skips_runs_when_the_gap_ends(
    rota: RotaCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    result = rota("submit", "rota.echo", "hi", "--at", "2027-03-28T02:30")
    assert result.exit_code == 0, result.stderr
    assert rota.job(result.stdout.strip())["run_at"] == "2027-03-28T01:00:00+00:00"
    assert result.stderr.startswith(
        "rota: read 2027-03-28T02:30 as Europe/Berlin time: 2027-03-28T03:00:00+02:00 "
        "(the clock skips 2027-03-28T02:30 there"
    )


def test_schedule_start_and_end_are_read_in_the_local_zone(
    rota: RotaCommand, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("TZ", "Europe/Berlin")
    result = rota(
        "schedules", "add", "s", "rota.echo", "--every", "60",
        "--start", "2027-03-28T02:30", "--end", "2027-10-31T02:30", "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    schedule = json.loads(result.stdout)
    assert schedule["start_at"] == "2027-03-28T01:00:00+00:00"
    assert schedule["end_at"] == "2027-10-31T00:30:00+00:00"  # the first 02:30 of two
    assert result.stderr.count("as Europe/Berlin time") == 2


def test_submit_of_an_unknown_task_is_one_error_line(rota: RotaCommand) -> None:
    result = rota("submit", "no.such.task")
    assert result.exit_code == 1
    assert result.stderr.startswith("rota: error: unknown task 'no.such.task'")
    assert result.stderr.count("\n") == 1


def test_jobs_ls_show_cancel_retry_and_logs(rota: RotaCommand) -> None:
    first = rota.submit("rota.echo", "one", "--delay", "60")
    second = rota.submit("rota.sha256", "two", "--delay", "60", "--queue", "other")

    listing = rota("jobs", "ls")
    assert listing.exit_code == 0, listing.stderr
    assert listing.stdout.index(second[-12:]) < listing.stdout.index(first[-12:])  # newest first
    assert "rota.sha256" in listing.stdout and "pending" in listing.stdout

    only = rota("jobs", "ls", "--queue", "other", "--json")
    assert [job["id"] for job in json.loads(only.stdout)["jobs"]] == [second]
    paged = rota("jobs", "ls", "--limit", "1")
    assert first[-12:] not in paged.stdout and f"--cursor {second}" in paged.stderr

    shown = rota("jobs", "show", first)
    assert shown.exit_code == 0, shown.stderr
    assert first in shown.stdout and "pending" in shown.stdout and '["one"]' in shown.stdout
    assert "submitted" in shown.stdout  # the execution log
    assert json.loads(rota("jobs", "show", first, "--json").stdout)["id"] == first

    cancelled = rota("jobs", "cancel", first, second)
    assert cancelled.exit_code == 0, cancelled.stderr
    assert cancelled.stdout.splitlines() == [
        f"cancelled {first} (cancelled)",
        f"cancelled {second} (cancelled)",
    ]
    assert rota.job(first)["state"] == "cancelled"

    again = rota("jobs", "cancel", first, MISSING_ID)
    assert again.exit_code == 1
    errors = again.stderr.splitlines()
    assert len(errors) == 2 and all(line.startswith("rota: error: ") for line in errors)
    assert first in errors[0] and MISSING_ID in errors[1]

    retried = rota("jobs", "retry", first)
    assert retried.exit_code == 0 and f"retried {first} (pending)" in retried.stdout
    logs = rota("jobs", "logs", first)
    assert logs.exit_code == 0
    kinds = [line.split()[2] for line in logs.stdout.splitlines()]
    assert kinds == ["submitted", "cancelled", "retried"]


def test_a_job_whose_code_is_stopping_is_shown_and_not_retried(rota: RotaCommand) -> None:
    job_id = rota.submit("rota.echo", "held", "--queue", "held")
    store = rota.live.store
    request = AcquireRequest(worker="w9", queues=["held"])
    [running] = rota.live.run(store.acquire(request))
    cancelled = rota("jobs", "cancel", job_id)
    assert cancelled.exit_code == 0 and f"cancelled {job_id} (cancelled)" in cancelled.stdout

    assert "cancelled stopping" in rota("jobs", "ls", "--queue", "held").stdout
    shown = rota("jobs", "show", job_id)
    assert "still running on worker w9" in shown.stdout, shown.stdout
    refused = rota("jobs", "retry", job_id)
    assert refused.exit_code == 1
    assert refused.stderr.startswith("rota: error: ")
    assert "still stopping on worker w9" in refused.stderr, refused.stderr

    rota.live.run(store.release(Lease(job_id=job_id, token=running.lease_token or "")))
    assert "stopping" not in rota("jobs", "ls", "--queue", "held").stdout
    retried = rota("jobs", "retry", job_id)
    assert retried.exit_code == 0, retried.stderr


def test_jobs_show_of_a_missing_job(rota: RotaCommand) -> None:
    result = rota("jobs", "show", MISSING_ID)
    assert result.exit_code == 1
    assert result.stderr.startswith("rota: error: ") and MISSING_ID in result.stderr
    assert "Traceback" not in result.output


def test_jobs_wait_and_logs_follow_end_when_the_job_finishes(rota: RotaCommand) -> None:
    job_id = rota.submit("rota.echo", "x")
    rota.live.run(_complete(rota.live, job_id, {"ok": True}))
    waited = rota("jobs", "wait", job_id)
    assert waited.exit_code == 0, waited.stderr
    assert json.loads(waited.stdout) == {"ok": True}
    followed = rota("jobs", "logs", job_id, "--follow")
    assert followed.exit_code == 0
    assert "succeeded" in followed.stdout


def test_jobs_wait_on_a_failed_job_exits_1(rota: RotaCommand) -> None:
    job_id = rota.submit("rota.echo", "x", "--max-attempts", "1")
    rota.live.run(_fail(rota.live, job_id, "ValueError: nope"))
    waited = rota("jobs", "wait", job_id)
    assert waited.exit_code == 1
    assert waited.stdout == ""
    assert (
        waited.stderr.strip()
        .splitlines()[-1]
        .startswith(f"rota: error: job {job_id} (rota.echo) failed: ValueError: nope")
    )


def test_workers_and_queues(rota: RotaCommand) -> None:
    assert "no workers" in rota("workers", "ls").stdout
    assert json.loads(rota("workers", "ls", "--json").stdout) == []
    assert "no queues" in rota("queues").stdout
    rota.submit("rota.echo", "--queue", "mail", "--delay", "60")
    queues = rota("queues")
    assert queues.exit_code == 0
    row = next(line for line in queues.stdout.splitlines() if line.startswith("mail"))
    assert row.split()[1:4] == ["1", "0", "0"]
    drained = rota("workers", "drain", "nobody")
    assert drained.exit_code == 1 and drained.stderr.startswith("rota: error: ")


def test_submit_wait_with_a_real_worker(
    live_server: LiveServer, worker_process: subprocess.Popen[bytes]
) -> None:
    rota = RotaCommand(live_server)
    done = rota("submit", "rota.sha256", "Hello", "--wait")
    assert done.exit_code == 0, done.stderr
    # A string result prints as it is, as the README shows (no JSON quotes).
    assert done.stdout == hashlib.sha256(b"Hello").hexdigest() + "\n"
    assert "submitted" in done.stderr

    failed = rota("submit", "tests.client.sample_app.explode", "kaboom", "--wait")
    assert failed.exit_code == 1
    assert "failed" in failed.stderr and "kaboom" in failed.stderr
    assert "Traceback" not in failed.stderr

    listing = rota("workers", "ls")
    assert "test-worker" in listing.stdout and "online" in listing.stdout


async def _claim(live: LiveServer, job_id: str) -> Lease:
    claimed = await live.store.acquire(AcquireRequest(worker="pretend", queues=["default"]))
    assert [job.id for job in claimed] == [job_id]
    token = claimed[0].lease_token
    assert token is not None
    return Lease(job_id=job_id, token=token)


async def _complete(live: LiveServer, job_id: str, result: object) -> None:
    await live.store.complete(await _claim(live, job_id), result)


async def _fail(live: LiveServer, job_id: str, error: str) -> None:
    await live.store.fail(await _claim(live, job_id), error=error, retryable=False)


def test_worker_takes_the_global_server_option(live_server: LiveServer) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    command = [sys.executable, "-m", "rota.cli.main", "-s", live_server.url, "worker"]
    worker = subprocess.Popen(
        [*command, "--name", "global-option", "--queues", "a,b", "--tags", "t1"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.monotonic() + 30  # a start is two Python starts (rota execs rota.worker)
        found = []
        while not found and time.monotonic() < deadline:
            workers = live_server.run(live_server.store.list_workers())
            found = [w for w in workers if w.name == "global-option" and w.state == "online"]
            time.sleep(0.05)
        assert found, "the worker did not connect to the server given with rota -s"
        assert (found[0].queues, found[0].tags) == (["a", "b"], ["t1"])
    finally:
        worker.terminate()
        assert worker.wait(10) == 0


def test_worker_with_a_module_that_does_not_import_exits_2() -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rota.cli.main", "worker", "--import", "no_such_module_here"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 2
    assert "no_such_module_here" in done.stderr and "Traceback" not in done.stderr
