"""The CLI as people use it: global options anywhere, URLs without a scheme, short ids,
warnings, --output json on every listing, times in a schedule's zone, Ctrl-C during a wait,
completion, NO_COLOR, and help and error lines that read well."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from rich.console import Console
from typer.testing import CliRunner, Result

from rota.cli import output
from rota.cli.main import app
from rota.cli.output import wait_status
from rota.jobs import Lease
from rota.store.base import AcquireRequest
from tests.client.live import ROOT, LiveServer

START_S = 20.0


def rota(*args: str, env: dict[str, str] | None = None) -> Result:
    return CliRunner().invoke(app, list(args), env=env)


def ok(result: Result) -> str:
    assert result.exit_code == 0, result.stderr
    return result.stdout


def test_global_options_after_the_subcommand(live_server: LiveServer) -> None:
    job_id = ok(rota("submit", "rota.echo", "hi", "--server", live_server.url)).strip()
    assert live_server.run(live_server.store.get_job(job_id)).args == ["hi"]
    listing = ok(rota("jobs", "ls", "-s", live_server.url, "--output", "json"))
    assert [job["id"] for job in json.loads(listing)["jobs"]] == [job_id]
    # Before the subcommand, as ever; and an option of the subcommand's own stays its own.
    assert job_id in ok(rota("-o", "json", "--server", live_server.url, "jobs", "ls"))
    after_dashes = rota("submit", "rota.echo", "--server", live_server.url, "--", "--server")
    job = live_server.run(live_server.store.get_job(ok(after_dashes).strip()))
    assert job.args == ["--server"]


def test_a_server_without_a_scheme_is_reached_over_http(live_server: LiveServer) -> None:
    bare = live_server.url.removeprefix("http://")
    job_id = ok(rota("submit", "rota.echo", "x", "--server", bare)).strip()
    assert live_server.run(live_server.store.get_job(job_id)).task == "rota.echo"


def test_every_listing_prints_json_with_output_json(live_server: LiveServer) -> None:
    url = live_server.url
    job_id = ok(rota("submit", "rota.echo", "x", "-s", url)).strip()
    ok(rota("schedules", "add", "hourly", "rota.echo", "--every", "1h", "-s", url))
    listings = [
        ["jobs", "ls"],
        ["jobs", "logs", job_id],
        ["config", "show"],
        ["workers", "ls"],
        ["devices", "ls"],
        ["queues"],
        ["schedules", "ls"],
        ["schedules", "runs", "hourly"],
        ["stats"],
    ]
    for command in listings:
        for asked in (["--output", "json"], ["--json"]):
            out = ok(rota(*command, *asked, "-s", url))
            json.loads(out)  # the whole of stdout is one JSON document
        json.loads(ok(rota("-o", "json", *command, "-s", url)))  # the option before too
    [submitted] = json.loads(ok(rota("jobs", "logs", job_id, "--json", "-s", url)))
    assert submitted["kind"] == "submitted"


def test_a_job_no_worker_can_run_says_why(live_server: LiveServer) -> None:
    result = rota("submit", "rota.echo", "x", "--target", "nosuch", "-s", live_server.url)
    job_id = ok(result).strip()
    assert result.stderr.startswith(f"rota: warning: job {job_id}: no worker is online")
    shown = ok(rota("jobs", "show", job_id, "-s", live_server.url))
    assert "warning: no worker is online" in shown
    listing = rota("jobs", "ls", "-s", live_server.url)
    assert f"! {job_id[-12:]}: no worker is online" in listing.stderr


def test_jobs_show_takes_the_short_id_and_prints_progress_as_a_percentage(
    live_server: LiveServer,
) -> None:
    job_id = ok(rota("submit", "rota.echo", "x", "-s", live_server.url)).strip()

    async def progress() -> None:
        [job] = await live_server.store.acquire(AcquireRequest(worker="w", queues=["default"]))
        assert job.lease_token is not None
        lease = Lease(job_id=job.id, token=job.lease_token)
        await live_server.store.report_progress(lease, 0.1334997635333328, "a third")

    live_server.run(progress())
    shown = ok(rota("jobs", "show", job_id[-12:], "-s", live_server.url))
    assert shown.startswith(job_id)
    assert "progress:        13%" in shown and "0.1334" not in shown
    missing = rota("jobs", "show", "ffffffffffff", "-s", live_server.url)
    assert missing.exit_code == 1
    assert "no job has an id that starts or ends with 'ffffffffffff'" in missing.stderr


def test_tables_show_the_short_id(live_server: LiveServer) -> None:
    url = live_server.url
    ok(rota("schedules", "add", "nightly", "rota.echo", "--cron", "0 3 * * *", "-s", url))
    job_id = ok(rota("schedules", "trigger", "nightly", "-s", url)).strip()
    for command in (["jobs", "ls"], ["schedules", "runs", "nightly"]):
        listing = ok(rota(*command, "-s", url))
        assert job_id[-12:] in listing and job_id not in listing, listing


def test_a_jobs_schedule_is_shown_by_name(live_server: LiveServer) -> None:
    url = live_server.url
    ok(rota("schedules", "add", "nightly", "rota.echo", "--cron", "0 3 * * *", "-s", url))
    job_id = ok(rota("schedules", "trigger", "nightly", "-s", url)).strip()
    shown = ok(rota("jobs", "show", job_id, "-s", url))
    assert "schedule:        nightly  (" in shown


def test_schedules_show_prints_args_as_json_and_times_in_its_zone(
    live_server: LiveServer,
) -> None:
    url = live_server.url
    ok(
        rota(
            "schedules", "add", "nightly", "rota.echo", "hi", "1", "--cron", "0 3 * * *",
            "--tz", "Europe/Berlin", "-s", url,
        )
    )  # fmt: skip
    shown = ok(rota("schedules", "show", "nightly", "-s", url))
    assert re.search(r'\n  args: +\["hi", 1\]\n', shown), shown
    assert re.search(r"\n  last_job_stopping: +false\n", shown), shown  # JSON's words, not Python's
    assert "False" not in shown and "None" not in shown
    fields = [line for line in shown.splitlines() if re.match(r"  \w+:", line)]
    columns = {len(line) - len(line.split(":", 1)[1].lstrip()) for line in fields}
    assert len(columns) == 1, shown  # every value starts in one column, the longest key's too
    assert "next fire times (Europe/Berlin, and UTC):" in shown
    fire_lines = [line for line in shown.splitlines() if "T03:00:00+0" in line]
    assert len(fire_lines) == 10
    for line in fire_lines:  # 03:00 Berlin, then the same moment in UTC
        wall, utc = line.split()[:2]
        assert wall.endswith(("T03:00:00+01:00", "T03:00:00+02:00"))
        assert utc.endswith(("T02:00:00+00:00", "T01:00:00+00:00"))


def test_a_bad_choice_is_one_clear_line(live_server: LiveServer) -> None:
    result = rota("jobs", "ls", "--state", "bogus", "-s", live_server.url)
    assert result.exit_code == 2
    assert "Value error" not in result.stderr
    assert result.stderr.startswith(
        "rota: error: Invalid value for '--state': 'bogus' is not one of 'pending'"
    )


@pytest.mark.parametrize("command", [["submit"], ["jobs", "ls"], ["worker"], []])
def test_flags_show_no_type_in_help(command: list[str]) -> None:
    result = rota(*command, "--help", env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "<bool>" not in result.stdout


def test_shell_completion() -> None:
    env = {**os.environ, "_ROTA_COMPLETE": "complete_bash", "COMP_WORDS": "rota jo"}
    env["COMP_CWORD"] = "1"
    done = subprocess.run(
        [sys.executable, "-m", "rota.cli.main"], env=env, capture_output=True, text=True
    )
    assert done.stdout.split() == ["jobs"]
    # `--show-completion` asks the process tree for the shell (under make it is `sh`, which
    # has no completion); the script for a named shell comes from the completion variable.
    script = subprocess.run(
        [sys.executable, "-m", "rota.cli.main"],
        env={**os.environ, "_ROTA_COMPLETE": "source_bash"},
        capture_output=True,
        text=True,
    )
    assert "_rota_completion" in script.stdout, (script.returncode, script.stderr)


def test_no_color_is_honoured(live_server: LiveServer) -> None:
    ok(rota("submit", "rota.echo", "x", "-s", live_server.url))
    colored = rota("jobs", "ls", "-s", live_server.url, env={"FORCE_COLOR": "1"})
    assert "\x1b[33m" in colored.stdout  # pending is yellow on a terminal
    plain = rota("jobs", "ls", "-s", live_server.url, env={"FORCE_COLOR": "1", "NO_COLOR": "1"})
    assert "\x1b[3" not in plain.stdout + plain.stderr


def test_the_wait_status_shows_the_progress_message_and_the_time_waited() -> None:
    job = {"id": "j-1", "state": "running", "progress": 0.5, "attempt": 1, "max_attempts": 3}
    line = wait_status(job, "half way", 75.0)
    assert line.startswith("j-1  ")
    assert "50%" in line and "half way" in line and line.endswith("· 1m15s")


def test_ctrl_c_during_wait_says_the_job_keeps_running(
    live_server: LiveServer, tmp_path: Path
) -> None:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT), env.get("PYTHONPATH", "")])
    stderr_path = tmp_path / "stderr.txt"
    with stderr_path.open("w") as stderr:
        process = subprocess.Popen(
            [sys.executable, "-m", "rota.cli.main", "submit", "rota.sleep", "30", "--wait",
             "--server", live_server.url],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=stderr,
            text=True,
        )  # fmt: skip
        try:
            deadline = time.monotonic() + START_S
            while "submitted" not in stderr_path.read_text():
                assert process.poll() is None and time.monotonic() < deadline
                time.sleep(0.05)
            process.send_signal(signal.SIGINT)
            code = process.wait(START_S)
        finally:
            if process.poll() is None:
                process.kill()
                process.wait()
    text = stderr_path.read_text()
    job_id = text.split("submitted ", 1)[1].split()[0]
    assert code == 130
    assert f"rota: interrupted: job {job_id} keeps running" in text
    assert live_server.run(live_server.store.get_job(job_id)).state == "pending"


def test_attempts_and_retries_from_the_command_line(live_server: LiveServer) -> None:
    url = live_server.url
    first = ok(rota("submit", "rota.echo", "a", "--max-attempts", "1", "-s", url)).strip()
    second = ok(rota("submit", "rota.echo", "b", "--max-attempts", "1", "-s", url)).strip()

    async def fail_all() -> None:
        store = live_server.store
        for job in await store.acquire(AcquireRequest(worker="w", queues=["default"], limit=2)):
            assert job.lease_token is not None
            lease = Lease(job_id=job.id, token=job.lease_token)
            await store.fail(lease, error=f"broke on {job.args[0]}", traceback="Traceback: x")

    live_server.run(fail_all())
    attempts = ok(rota("jobs", "attempts", first[-12:], "-s", url))
    assert "broke on a" in attempts and "failed" in attempts and "Traceback: x" in attempts

    again = ok(rota("jobs", "retry", first, "-a", "fixed", "-k", "n=2", "-s", url))
    assert again.strip() == f"retried {first} (pending)"
    job = live_server.run(live_server.store.get_job(first))
    assert (job.args, job.kwargs) == (["fixed"], {"n": 2})
    bulk = ok(rota("jobs", "retry", "--task", "rota.echo", "-s", url))
    assert bulk.strip() == "retried 1 failed jobs of rota.echo"
    assert live_server.run(live_server.store.get_job(second)).state == "pending"


def test_workers_table_shows_the_process_figures_beside_the_hosts() -> None:
    from rich.console import Console

    from rota.cli.output import workers_table

    worker = {
        "name": "w1",
        "state": "online",
        "running": 1,
        "capacity": 2,
        "queues": ["default"],
        "tags": [],
        "last_seen_at": None,
        "resources": {
            "cpu_percent": 81.0,
            "memory_percent": 40.0,
            "process_cpu_percent": 49.5,
            "process_rss_bytes": 50 * 1024 * 1024,
        },
    }
    console = Console(width=200, record=True)
    console.print(workers_table([worker]))
    text = console.export_text()
    assert "HOST CPU" in text and "PROC CPU" in text and "PROC RSS" in text
    assert "81%" in text and "50%" in text and "50.0 MiB" in text


def test_the_wait_spinner_shows_the_jobs_progress_message() -> None:
    """The status line of `--wait` takes the job's own `progress_message`, so it needs no
    scan of the execution log."""
    from typing import Any

    from rota.cli.jobs import _wait

    running = {"id": "j-1", "state": "running", "progress": 0.4, "attempt": 1}
    replies = [
        {**running, "progress_message": "loading rows"},
        {**running, "progress": 0.6, "progress_message": None},
        {**running, "state": "succeeded", "progress": 1.0, "result": 1},
    ]

    class Client:
        def wait(self, job_id: str, **_: Any) -> dict[str, Any]:
            return replies.pop(0)

        def events(self, job_id: str, after: int = 0) -> list[dict[str, Any]]:
            return []

    shown: list[str] = []
    job = _wait(Client(), "j-1", None, time.monotonic(), shown.append)  # type: ignore[arg-type]
    assert job["state"] == "succeeded"
    assert "40%" in shown[0] and "loading rows" in shown[0]
    assert "60%" in shown[1] and "loading rows" not in shown[1]


@pytest.mark.parametrize("console", [output.stdout, output.stderr])
def test_names_with_colons_are_printed_as_given_not_as_emoji(
    console: Callable[[], Console],
) -> None:
    # A warning about the device "a:b" said 'device🅰b'.
    shown = console()
    with shown.capture() as captured:
        shown.print("no online worker is named or tagged 'device:a:b' :smile:")
    assert captured.get().strip() == "no online worker is named or tagged 'device:a:b' :smile:"
