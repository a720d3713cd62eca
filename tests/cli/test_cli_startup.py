"""How the `rota` command starts: what it loads before it knows which command runs.

The server (fastapi, starlette, uvicorn), the stores (asyncpg, SQLite), the settings model
(pydantic), the HTTP client (httpx, anyio), the calendar libraries and the bench's workloads
cost about a second together; only the commands that use them load them. Checked by name, in
a fresh interpreter, never by timing.
"""

from __future__ import annotations

import json
import signal
import subprocess
import sys
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]

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


_SLOW_START = """
import sys, time

class SlowImport:
    # Stands for a slow disk or a loaded machine: the command line takes its time to load.
    def find_spec(self, name, path=None, target=None):
        if name == "rota.cli.output":
            sys.stdout.write("loading\\n")
            sys.stdout.flush()
            time.sleep(60)
        return None

sys.meta_path.insert(0, SlowImport())
"""


def _console_script() -> str:
    """Return what the installed `rota` script runs: the entry point pyproject.toml names."""
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())
    module, _, function = project["project"]["scripts"]["rota"].partition(":")
    return f"import sys\nfrom {module} import {function}\nsys.exit({function}())\n"


def test_a_ctrl_c_while_the_command_line_loads_is_one_line_and_exit_130() -> None:
    started = subprocess.Popen(
        [sys.executable, "-c", _SLOW_START + _console_script(), "--help"],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert started.stdout is not None
        assert started.stdout.readline() == "loading\n"  # in the middle of its imports
        started.send_signal(signal.SIGINT)
        _, err = started.communicate(timeout=30)
    finally:
        if started.poll() is None:
            started.kill()
            started.wait()
    assert "Traceback" not in err
    assert err == "rota: interrupted\n"
    assert started.returncode == 130
