"""The CLI and TLS: `rota server --tls-cert/--tls-key` refuses files it cannot serve with in
one line, and client commands verify an https:// server with --ca, ROTA_CA or tls.ca."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from rota.cli.main import app
from tests.client.live import ROOT, LiveServer, free_port, running_server
from tests.tls_files import TlsFiles, make_tls_files

SERVER_START_S = 60.0


@pytest.fixture
def pki(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "pki")


@pytest.fixture
def tls_server(tmp_path: Path, pki: TlsFiles) -> Iterator[LiveServer]:
    with running_server(tmp_path / "rota.db", strict_tasks=False, tls=pki.pair) as live:
        yield live


@pytest.fixture
def runner(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> CliRunner:
    for name in list(os.environ):
        if name.startswith("ROTA_"):
            monkeypatch.delenv(name)
    monkeypatch.chdir(tmp_path)  # no rota.toml of the checkout's
    return CliRunner()


def rota_server(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    """Run `rota server ARGS` as a user would, returning once it exits."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env["PYTHONPATH"] = os.pathsep.join([str(ROOT / "src"), str(ROOT)])
    return subprocess.run(
        [sys.executable, "-m", "rota.cli.main", "server", "--port", str(free_port()), *args],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=SERVER_START_S,
        check=False,
    )


@pytest.mark.parametrize(
    ("which", "expected"),
    [
        ("missing", r"certificate file missing\.pem does not exist"),
        ("mismatch", r"key file .*other-key\.pem is not the private key of the certificate"),
        ("only cert", r"tls: give both certfile and keyfile, or neither \(from --tls-cert\)"),
    ],
)
def test_rota_server_refuses_tls_files_it_cannot_serve_in_one_line(
    tmp_path: Path, pki: TlsFiles, which: str, expected: str
) -> None:
    other_key = tmp_path / "other-key.pem"
    make_tls_files(tmp_path / "other").leaf.private_key_pem.write_to_path(str(other_key))
    flags = {
        "missing": ["--tls-cert", "missing.pem", "--tls-key", str(pki.key)],
        "mismatch": ["--tls-cert", str(pki.cert), "--tls-key", str(other_key)],
        "only cert": ["--tls-cert", str(pki.cert)],
    }[which]
    done = rota_server("--db", "rota.db", *flags, cwd=tmp_path)
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert lines[0].startswith("rota: error: ")
    assert re.search(expected, lines[0]), lines[0]
    assert not (tmp_path / "rota.db").exists(), "the store was opened before the files were read"


def test_client_commands_verify_with_the_ca_flag(
    runner: CliRunner, tls_server: LiveServer, pki: TlsFiles
) -> None:
    result = runner.invoke(
        app, ["--server", tls_server.url, "submit", "rota.echo", "hi", "--ca", str(pki.ca)]
    )
    assert result.exit_code == 0, result.stderr
    job = tls_server.run(tls_server.store.get_job(result.stdout.strip()))
    assert job.task == "rota.echo"


def test_client_commands_read_the_ca_from_rota_toml(
    runner: CliRunner, tls_server: LiveServer, pki: TlsFiles, tmp_path: Path
) -> None:
    (tmp_path / "rota.toml").write_text(f'[tls]\nca = "{pki.ca}"\n')
    result = runner.invoke(app, ["--server", tls_server.url, "stats"])
    assert result.exit_code == 0, result.stderr


def test_without_the_ca_a_client_command_says_the_certificate_was_refused(
    runner: CliRunner, tls_server: LiveServer
) -> None:
    result = runner.invoke(app, ["--server", tls_server.url, "jobs", "ls"])
    assert result.exit_code == 1
    assert result.stderr.startswith(
        f"rota: error: the certificate of the server at {tls_server.url} was refused: "
        "unable to get local issuer certificate; give the CA that signed it with --ca FILE"
    )
    assert "Traceback" not in result.stderr and result.stderr.count("\n") == 1


def test_a_ca_flag_naming_no_file_is_one_error_line(
    runner: CliRunner, tls_server: LiveServer
) -> None:
    result = runner.invoke(app, ["--ca", "nowhere.pem", "--server", tls_server.url, "stats"])
    assert result.exit_code == 1
    assert result.stderr == "rota: error: CA file nowhere.pem does not exist\n"
