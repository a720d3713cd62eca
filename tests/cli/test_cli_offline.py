"""The CLI without a server: help, argument parsing and the error line."""

from __future__ import annotations

import socket
import subprocess
import sys

import pytest
import typer
from typer.testing import CliRunner

from rota.cli.common import parse_kwargs, parse_value
from rota.cli.main import app
from rota.cli.times import local_zone, parse_duration, parse_moment

COMMANDS = [
    [],
    ["dev"],
    ["server"],
    ["worker"],
    ["device"],
    ["submit"],
    ["queues"],
    ["jobs"],
    ["jobs", "ls"],
    ["jobs", "show"],
    ["jobs", "cancel"],
    ["jobs", "retry"],
    ["jobs", "logs"],
    ["jobs", "wait"],
    ["workers"],
    ["workers", "ls"],
    ["workers", "drain"],
]


@pytest.fixture
def runner() -> CliRunner:
    return CliRunner()


@pytest.fixture
def closed_url() -> str:
    """A URL on a local port nothing listens on."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


@pytest.mark.parametrize("command", COMMANDS, ids=lambda c: " ".join(c) or "rota")
def test_every_command_has_help(runner: CliRunner, command: list[str]) -> None:
    result = runner.invoke(app, [*command, "--help"])
    assert result.exit_code == 0, result.output
    assert "Usage:" in result.output


def test_no_command_prints_the_help(runner: CliRunner) -> None:
    result = runner.invoke(app, [])
    assert result.exit_code == 0
    assert "submit" in result.output and "jobs" in result.output


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("42", 42),
        ("-1.5", -1.5),
        ("true", True),
        ("null", None),
        ('"quoted"', "quoted"),
        ("[1, 2]", [1, 2]),
        ('{"a": 1}', {"a": 1}),
        ("Hello", "Hello"),
        ("Hello world", "Hello world"),
        ("", ""),
        ("{not json", "{not json"),
    ],
)
def test_arguments_are_json_when_they_parse(text: str, value: object) -> None:
    assert parse_value(text) == value


def test_kwargs_are_key_value_pairs() -> None:
    assert parse_kwargs(["n=3", "name=Ada", "tags=[1]", "eq=a=b"]) == {
        "n": 3,
        "name": "Ada",
        "tags": [1],
        "eq": "a=b",
    }


@pytest.mark.parametrize(
    ("text", "seconds"), [("90", 90.0), ("1.5s", 1.5), ("10m", 600.0), ("2h", 7200.0)]
)
def test_durations(text: str, seconds: float) -> None:
    assert parse_duration(text, "--delay") == seconds


BERLIN = {"TZ": "Europe/Berlin"}


@pytest.mark.parametrize(
    ("text", "meant", "note"),
    [
        ("2027-03-28T02:30", "2027-03-28T03:00:00+02:00", "the clock skips 2027-03-28T02:30"),
        ("2027-10-31T02:30", "2027-10-31T02:30:00+02:00", "occurs twice there"),
        ("2027-06-01T12:00", "2027-06-01T12:00:00+02:00", "+02:00"),
    ],
)
def test_a_naive_time_is_read_in_the_local_zone_by_the_schedules_rule(
    text: str, meant: str, note: str
) -> None:
    said: list[str] = []
    moment = parse_moment(text, "--at", environ=BERLIN, say=said.append)
    assert moment is not None and moment.isoformat() == meant
    [line] = said
    assert line.startswith(f"read {text} as Europe/Berlin time: {meant}")
    assert note in line


@pytest.mark.parametrize("zone", ["Europe/Berlin", "America/New_York", "UTC", "CET-1"])
@pytest.mark.parametrize("text", ["0001-01-01T00:00", "9999-12-31T23:59:59", "1969-12-31T12:00"])
def test_a_naive_time_at_the_ends_of_the_calendar_is_refused_by_range(text: str, zone: str) -> None:
    # Reading 0001-01-01T00:00 in a zone east of UTC used to overflow (a traceback).
    with pytest.raises(typer.BadParameter, match="must be between 1970"):
        parse_moment(text, "--at", environ={"TZ": zone}, say=lambda line: None)


def test_the_zone_comes_from_tz_or_the_system() -> None:
    assert local_zone({"TZ": ":Europe/Berlin"}).name == "Europe/Berlin"
    assert local_zone({"TZ": ""}).name == "UTC"
    assert local_zone({"TZ": "/usr/share/zoneinfo/Asia/Tokyo"}).zone is not None
    assert local_zone({"TZ": "CET-1CEST,M3.5.0,M10.5.0/3"}).zone is None  # a POSIX rule
    assert local_zone({}).zone is not None


def test_a_time_without_offset_is_local_time() -> None:
    moment = parse_moment("2030-01-31T09:00:00", "--at")
    assert moment is not None and moment.tzinfo is not None
    assert moment.hour == 9
    aware = parse_moment("2030-01-31T09:00:00+02:00", "--at")
    assert aware is not None and aware.utcoffset() is not None
    assert aware.utcoffset().total_seconds() == 7200  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("args", "mentions"),
    [
        (["submit"], "Missing argument"),
        (["submit", "rota.echo", "-k", "novalue"], "--kwarg"),
        (["submit", "rota.echo", "-k", "1x=2"], "--kwarg"),
        (["submit", "rota.echo", "--delay", "soon"], "--delay"),
        (["submit", "rota.echo", "--at", "tomorrow"], "--at"),
        (["submit", "rota.echo", "--at", "9999-12-31T23:59:59-01:00"], "--at"),
        (["submit", "rota.echo", "--deadline", "0001-01-01T00:30:00+01:00"], "--deadline"),
        (["submit", "rota.echo", "--delay", "99999999999999d"], "--delay"),
        (["submit", "rota.echo", "--timeout", "1" + "0" * 400], "--timeout"),
        (["schedules", "add", "s", "rota.echo", "--every", "1" + "0" * 400], "--every"),
        (
            ["schedules", "add", "s", "rota.echo", "--every", "1", "--start", "9999-12-31"],
            "--start",
        ),
        (["submit", "rota.echo", "--delay", "5", "--at", "2030-01-01T00:00:00Z"], "not both"),
        (["jobs", "ls", "--state", "sleeping"], "--state"),
        (["jobs", "ls", "--limit", "0"], "--limit"),
        (["nosuchcommand"], "No such command"),
    ],
)
def test_bad_arguments_are_one_line_and_exit_2(
    runner: CliRunner, args: list[str], mentions: str
) -> None:
    result = runner.invoke(app, args)
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1, result.stderr
    assert lines[0].startswith("rota: error: ")
    assert mentions in lines[0]


@pytest.mark.parametrize(
    "args",
    [
        ["submit", "rota.sha256", "Hello"],
        ["jobs", "ls"],
        ["jobs", "show", "some-id"],
        ["jobs", "cancel", "a", "b"],
        ["jobs", "logs", "x"],
        ["workers", "ls"],
        ["workers", "drain", "w1"],
        ["queues"],
    ],
)
def test_unreachable_server_is_one_clear_line(
    runner: CliRunner, closed_url: str, args: list[str]
) -> None:
    result = runner.invoke(app, ["--server", closed_url, *args])
    assert result.exit_code == 1
    assert result.stderr == (
        f"rota: error: cannot reach the Rota server at {closed_url} "
        "(is it running? start one with `rota dev`)\n"
    )
    assert result.stdout == ""


def test_server_comes_from_the_environment(
    runner: CliRunner, closed_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTA_SERVER", closed_url)
    result = runner.invoke(app, ["jobs", "ls"])
    assert result.exit_code == 1
    assert closed_url in result.stderr


def test_the_installed_command_prints_no_traceback(closed_url: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "rota.cli.main", "-s", closed_url, "submit", "rota.echo", "1"],
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )
    assert done.returncode == 1
    assert "Traceback" not in done.stderr
    assert done.stderr.startswith(f"rota: error: cannot reach the Rota server at {closed_url}")
