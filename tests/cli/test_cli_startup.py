"""How the `rota` command starts: what it loads before it knows which command runs.

The server (fastapi, starlette, uvicorn), the stores (asyncpg, SQLite), the settings model
(pydantic), the HTTP client (httpx, anyio), the calendar libraries and the bench's workloads
cost about a second together; only the commands that use them load them. Checked by name, in
a fresh interpreter, never by timing.
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

NOT_AT_START = (
    "fastapi",
    "starlette",
    "uvicorn",
    "asyncpg",
    "httpx",
    "anyio",
    "pydantic",
    "pydantic_settings",
    "icalendar",
    "recurring_ical_events",
    "x_wr_timezone",
    "dateutil",
    "apprise",
    "prometheus_client",
    "psutil",
    "sqlite3",
    "rota.settings",
    "rota.server",
    "rota.store",
    "rota.sync",
    "rota.client",
    "rota.protocol",
    "rota.calendar.reading",
    "rota.reminders.submit",
    "rota.bench.suite",
)
"""Modules that neither `import rota.cli.main` nor `rota --help` may load."""

_LOADED = """
import contextlib, io, json, sys
import rota.cli.main
if sys.argv[1:]:
    with contextlib.redirect_stdout(io.StringIO()), contextlib.suppress(SystemExit):
        rota.cli.main.main()
names = {name.split(".")[0] for name in sys.modules} | set(sys.modules)
print(json.dumps(sorted(name for name in NOT_AT_START if name in names)))
"""


def _loaded(*argv: str) -> list[str]:
    script = f"NOT_AT_START = {NOT_AT_START!r}\n{_LOADED}"
    done = subprocess.run(
        [sys.executable, "-c", script, *argv], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    loaded: list[str] = json.loads(done.stdout.splitlines()[-1])
    return loaded


def test_importing_the_command_line_loads_no_server_store_client_or_settings() -> None:
    assert _loaded() == []


def test_help_loads_no_server_store_client_or_settings() -> None:
    assert _loaded("--help") == []


@pytest.mark.parametrize("argv", [["submit", "--help"], ["jobs", "ls", "--help"]])
def test_a_commands_help_loads_only_what_typer_needs(argv: list[str]) -> None:
    # typer itself reads a subcommand's parameters with pydantic; nothing else of the list.
    assert set(_loaded(*argv)) <= {"pydantic"}
