"""`rota config show`, and every command reading flags > ROTA_* > rota.toml > defaults."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from rota import Client
from rota.cli.main import app
from rota.errors import RotaError
from rota.settings import KEYS


@pytest.fixture
def here(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    """A folder of its own as the current folder, with no ROTA_* variable set."""
    for name in list(os.environ):
        if name.startswith("ROTA_") and not name.startswith("ROTA_TEST_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)
    return tmp_path


def closed_url() -> str:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    return f"http://127.0.0.1:{port}"


def show_json(args: list[str], env: dict[str, str] | None = None) -> dict[str, Any]:
    result = CliRunner().invoke(app, [*args, "config", "show", "--output", "json"], env=env)
    assert result.exit_code == 0, result.output
    shown: dict[str, Any] = json.loads(result.stdout)
    return shown


def by_key(shown: dict[str, Any]) -> dict[str, dict[str, Any]]:
    return {row["key"]: row for row in shown["settings"]}


def test_show_names_where_each_setting_came_from(here: Path) -> None:
    (here / "rota.toml").write_text(
        '[server]\nport = 9001\nlease_s = 12\n[store]\ndb = "jobs.db"\n[auth]\ntoken = "s3cret"\n'
    )
    shown = show_json(
        ["--server", "http://a:1"], env={"ROTA_LEASE_S": "7", "ROTA_WORKER__CONCURRENCY": "3"}
    )
    assert shown["config_file"] == "rota.toml"
    rows = by_key(shown)
    assert set(rows) == {f"{section}.{key}" for key, section in KEYS.items()}
    assert rows["server.port"] == {
        "key": "server.port",
        "section": "server",
        "value": 9001,
        "source": "file",
        "from": "rota.toml",
    }
    assert (rows["server.lease_s"]["value"], rows["server.lease_s"]["from"]) == (
        7.0,
        "ROTA_LEASE_S",
    )
    assert rows["worker.concurrency"]["from"] == "ROTA_WORKER__CONCURRENCY"
    assert (rows["worker.server"]["value"], rows["worker.server"]["source"]) == (
        ["http://a:1"],
        "flag",
    )
    assert rows["worker.server"]["from"] == "--server"
    assert (rows["server.host"]["source"], rows["server.host"]["from"]) == ("default", None)
    assert rows["auth.token"]["value"] == "***"


def test_show_as_a_table(here: Path) -> None:
    config = here / "elsewhere.toml"
    config.write_text("[worker]\nqueues = ['mail', 'default']\n")
    result = CliRunner().invoke(app, ["config", "show", "--config", str(config)])
    assert result.exit_code == 0, result.output
    lines = result.stdout.splitlines()
    assert lines[0] == f"config file: {config}"
    queues = next(line for line in lines if line.startswith("worker.queues "))
    assert queues.split() == ["worker.queues", '["mail",', '"default"]', str(config)]
    assert "s3cret" not in result.stdout


def test_the_global_config_option_and_rota_config_name_the_file(here: Path) -> None:
    config = here / "other.toml"
    config.write_text("[store]\ndb = 'other.db'\n")
    assert by_key(show_json(["--config", str(config)]))["store.db"]["from"] == str(config)
    shown = show_json([], env={"ROTA_CONFIG": str(config)})
    assert by_key(shown)["store.db"]["value"] == "other.db"


@pytest.mark.parametrize(
    ("text", "words"),
    [
        ("[server]\ncolour = 'blue'\n", "rota.toml: unknown setting 'colour' in [server]"),
        ("[server]\nconcurrency = 2\n", "it belongs in [worker]"),
        ("[server]\nport = 'high'\n", "server.port: "),
        ("port = \n", "rota.toml: "),
    ],
)
@pytest.mark.parametrize(
    "command", [["config", "show"], ["server"], ["worker"], ["migrate"], ["jobs", "ls"]]
)
def test_every_command_refuses_a_bad_config_file_naming_key_and_file(
    here: Path, text: str, words: str, command: list[str]
) -> None:
    (here / "rota.toml").write_text(text)
    result = CliRunner().invoke(app, command)
    assert result.exit_code == 1, result.output
    assert result.stderr.startswith("rota: error: ")
    assert words in result.stderr
    assert "rota.toml" in result.stderr
    assert "Traceback" not in result.output


def test_a_bad_environment_value_names_the_variable(here: Path) -> None:
    result = CliRunner().invoke(app, ["config", "show"], env={"ROTA_PORT": "high"})
    assert result.exit_code == 1
    assert "server.port: " in result.stderr and "(from ROTA_PORT)" in result.stderr


def test_client_commands_take_the_server_from_rota_toml_unless_told(here: Path) -> None:
    from_file, from_flag = closed_url(), closed_url()
    (here / "rota.toml").write_text(f'[worker]\nserver = ["{from_file}", "http://b:2"]\n')
    result = CliRunner().invoke(app, ["jobs", "ls"])
    assert result.exit_code == 1
    assert f"at {from_file}" in result.stderr
    result = CliRunner().invoke(app, ["--server", from_flag, "jobs", "ls"])
    assert f"at {from_flag}" in result.stderr
    result = CliRunner().invoke(app, ["jobs", "ls"], env={"ROTA_SERVER": from_flag})
    assert f"at {from_flag}" in result.stderr


def test_config_docs_prints_the_reference(here: Path) -> None:
    result = CliRunner().invoke(app, ["config", "docs"])
    assert result.exit_code == 0
    assert result.stdout.startswith("# Configuration\n")
    for key in KEYS:
        assert f"`ROTA_{key.upper()}`" in result.stdout


def test_the_references_sample_prints_a_value_as_config_show_does(here: Path) -> None:
    result = CliRunner().invoke(app, ["config", "show"], env={"ROTA_LEASE_S": "10"})
    assert result.exit_code == 0, result.output
    reference = CliRunner().invoke(app, ["config", "docs"]).stdout
    shown, sample = (
        next(line.split() for line in text.splitlines() if line.startswith("server.lease_s "))
        for text in (result.stdout, reference)
    )
    assert sample == shown


@pytest.mark.e2e
def test_rota_dev_reads_rota_toml(here: Path) -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    (here / "rota.toml").write_text(
        f'[server]\nport = {port}\n[store]\ndb = "from-toml.db"\n[worker]\nconcurrency = 3\n'
    )
    environ = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", "dev", "--workers", "1"],
        cwd=here,
        env=environ,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            deadline = time.monotonic() + 30
            workers: list[dict[str, Any]] = []
            while not workers and time.monotonic() < deadline:
                try:
                    workers = client.workers()
                except RotaError:
                    pass
                time.sleep(0.1)
            assert [worker["capacity"] for worker in workers] == [3]
        assert (here / "from-toml.db").exists() and not (here / "rota.db").exists()
    finally:
        dev.send_signal(signal.SIGTERM)
        try:
            dev.wait(30)
        except subprocess.TimeoutExpired:
            dev.kill()
            dev.wait()
