"""`rota worker` and `rota device` take --token as their own option (so their --help lists
it), before or after the command, over ROTA_TOKEN."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from rota.cli.main import app
from rota.settings import Settings

SECRET = "rota_0123456789ab_" + "k" * 43


@pytest.fixture
def started(monkeypatch: pytest.MonkeyPatch) -> list[Settings]:
    """The settings each worker or device would have run with (none is started)."""
    seen: list[Settings] = []

    def run(settings: Settings) -> int:
        seen.append(settings)
        return 0

    monkeypatch.setattr("rota.launch.can_exec", lambda: False)
    monkeypatch.setattr("rota.worker.main.run_worker", run)
    monkeypatch.setattr("rota.device.main.run_device", run)
    monkeypatch.delenv("ROTA_TOKEN", raising=False)
    return seen


@pytest.mark.parametrize("command", [["worker"], ["device", "--name", "phone"]])
def test_the_help_of_a_worker_command_lists_its_token_option(command: list[str]) -> None:
    result = CliRunner().invoke(app, [*command, "--help"], env={"COLUMNS": "200"})
    assert result.exit_code == 0
    assert "--token" in result.output


@pytest.mark.parametrize(
    ("argv", "env"),
    [
        (["worker", "--token", SECRET], {}),
        (["--token", SECRET, "worker"], {}),
        (["worker", "--token", SECRET], {"ROTA_TOKEN": "rota_ffffffffffff_" + "x" * 43}),
        (["worker"], {"ROTA_TOKEN": SECRET}),
        (["device", "--name", "phone", "--token", SECRET], {}),
    ],
)
def test_a_worker_connects_with_the_token_it_was_given(
    started: list[Settings], argv: list[str], env: dict[str, str], tmp_path: Path
) -> None:
    empty = tmp_path / "rota.toml"
    empty.write_text("")
    result = CliRunner().invoke(app, [*argv, "--config", str(empty)], env=env)
    assert result.exit_code == 0, result.output
    [settings] = started
    assert settings.auth.token == SECRET
