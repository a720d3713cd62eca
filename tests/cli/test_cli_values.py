"""The CLI and odd values: refused before sending with one clear line, and jobs stored by
older versions with such values still listed, shown and logged."""

from __future__ import annotations

import json
from datetime import UTC, datetime

from rota.jobs import Event, JobSpec
from tests.cli.test_cli_live import RotaCommand, rota
from tests.client.live import LiveServer

__all__ = ["rota"]


def test_an_argument_that_cannot_be_sent_is_one_clear_error(rota: RotaCommand) -> None:
    # What Python makes of a command-line argument holding a byte that is not UTF-8.
    result = rota("submit", "rota.echo", "caf\udce9")
    assert result.exit_code != 0
    assert result.stderr.strip() == (
        "rota: error: args[0]: string contains a lone surrogate (\\udce9) at index 3"
    )
    deep = rota("submit", "rota.echo", "[" * 100_000 + "]" * 100_000)
    assert deep.exit_code != 0
    assert (
        deep.stderr.strip()
        == "rota: error: [[[[[[[[[[[[[[[[[[[[...: nested too deeply to read as JSON"
    )
    too_deep = rota("submit", "rota.echo", "[" * 100 + "]" * 100)
    assert too_deep.stderr.strip().endswith("nested deeper than 64 levels")
    assert json.loads(rota("jobs", "ls", "--json").stdout)["jobs"] == []


def test_old_jobs_with_odd_values_are_listed_shown_and_logged(
    rota: RotaCommand, live_server: LiveServer
) -> None:
    deep: object = "bottom"
    for _ in range(252):
        deep = [deep]
    [job] = live_server.run(
        live_server.store.submit(
            [JobSpec(task="rota.echo", args=["[red]a\ud800b", deep], kwargs={"k\udcff": 1})]
        )
    )
    live_server.run(
        live_server.store.log(
            [
                Event(
                    job_id=job.id,
                    attempt=0,
                    at=datetime.now(UTC),
                    kind="log",
                    message="[bold]not markup[/] \\",
                )
            ]
        )
    )
    listed = rota("jobs", "ls")
    assert listed.exit_code == 0, listed.stderr
    assert job.id[-12:] in listed.stdout
    shown = rota("jobs", "show", job.id)
    assert shown.exit_code == 0, shown.stderr
    assert '"[red]a\\\\ud800b"' in shown.stdout
    assert "nested deeper than 64 levels" in shown.stdout
    logs = rota("jobs", "logs", job.id)
    assert logs.exit_code == 0, logs.stderr
    assert "[bold]not markup[/] \\" in logs.stdout
