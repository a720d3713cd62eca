"""`rota remind` against a real server: what it creates, and one clear line for bad input."""

from __future__ import annotations

import json
from datetime import datetime

import pytest
from typer.testing import CliRunner, Result

from rota.cli.main import app
from rota.store import JobQuery
from tests.client.live import LiveServer


def run(live: LiveServer, *args: str) -> Result:
    return CliRunner().invoke(app, ["--server", live.url, "remind", *args])


def test_reminder_for_two_devices_with_a_deadline(live_server: LiveServer) -> None:
    result = run(
        live_server,
        "Stand-up",
        "--at", "09:55",
        "--tz", "Europe/Berlin",
        "--devices", "laptop,phone",
        "--deadline", "10m",
        "--json",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    jobs = json.loads(result.stdout)["jobs"]
    assert [job["target"] for job in jobs] == ["device:laptop", "device:phone"]
    for job in jobs:
        due = datetime.fromisoformat(job["run_at"])
        assert due.astimezone().utcoffset() is not None
        assert (due.hour, due.minute) in {(8, 55), (7, 55)}  # 09:55 in Berlin, CET or CEST
        deadline = datetime.fromisoformat(job["deadline_at"])
        assert (deadline - due).total_seconds() == 600
        assert job["kwargs"] == {"text": "Stand-up"} and job["task"] == "rota.remind"


def test_a_wall_time_the_clock_skips_is_explained_on_stderr(live_server: LiveServer) -> None:
    at = "2031-03-30T02:30"  # Berlin's clocks go from 02:00 to 03:00 that night
    result = run(live_server, "Tea", "--at", at, "--tz", "Europe/Berlin", "--device", "pi")
    assert result.exit_code == 0, result.stderr
    assert result.stderr.splitlines()[0] == (
        f"rota: read {at} as Europe/Berlin time: 2031-03-30T03:00:00+02:00 "
        f"(the clock skips {at} there: the first instant after the gap is meant)"
    )
    assert "due 2031-03-30T03:00:00+02:00" in result.stdout
    offset = run(live_server, "Tea", "--at", "2031-03-30T02:30+01:00", "--device", "pi")
    assert offset.exit_code == 0 and "rota: read" not in offset.stderr


def test_table_output_names_each_job_and_schedule(live_server: LiveServer) -> None:
    result = run(live_server, "Tea", "--at", "in 5m", "--any-device", "--notify", "json://h/x")
    assert result.exit_code == 0, result.stderr
    lines = result.stdout.splitlines()
    assert [line.split()[1] for line in lines] == ["device", "notify"]
    result = run(
        live_server, "Stand-up", "--at", "09:55", "--repeat", "weekdays", "--device", "pi",
        "--name", "standup",
    )  # fmt: skip
    assert result.exit_code == 0, result.stderr
    assert result.stdout.startswith("standup  device:pi  55 9 * * MON-FRI  next ")


@pytest.mark.parametrize(
    ("args", "words"),
    [
        (["--at", "soon", "--device", "a"], "--at: 'soon' is not a time"),
        (["--at", "25:61", "--device", "a"], "--at: 25:61 is not a time of day"),
        (["--at", "09:00", "--tz", "Mars/Base", "--device", "a"], "--tz: unknown time zone"),
        (["--repeat", "61 * * * *", "--device", "a"], "--repeat: cron field 1 (minute)"),
        (["--repeat", "daily", "--device", "a"], "--repeat: daily needs --at"),
        (
            ["--at", "09:00", "--device", "a", "--any-device"],
            "give one of --device, --devices and --any-device, not --device and --any-device",
        ),
        (["--at", "09:00"], "say where it rings"),
        (["--at", "09:00", "--device", "a", "--every", "1h", "--repeat", "daily"], "not both"),
        (["--device", "a", "--every", "1s"], "--every: a reminder repeats at most once a minute"),
        (["--at", "09:00", "--device", "a", "--deadline", "0"], "--deadline: must be more than 0"),
    ],
)
def test_bad_input_is_one_line_without_a_traceback(
    live_server: LiveServer, args: list[str], words: str
) -> None:
    result = run(live_server, "hello", *args)
    assert result.exit_code == 1, result.stdout
    [line] = result.stderr.splitlines()
    assert line.startswith("rota: error: ") and words in line, line
    assert "Traceback" not in result.output
    page = live_server.run(live_server.store.list_jobs(JobQuery(limit=10)))
    assert page.jobs == []
