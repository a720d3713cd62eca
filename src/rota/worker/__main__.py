"""Run a worker with `python -m rota.worker`, configured by ROTA_* variables and rota.toml.

`rota worker` becomes this program once it has resolved its settings (rota.launch):
it loads nothing of the command line, so the worker process stays small.
"""

from __future__ import annotations

import sys

from pydantic import ValidationError

from rota.cli.orphans import watch_parent
from rota.errors import InvalidInput
from rota.launch import limit_malloc_arenas, settings_from_env
from rota.settings import load_settings
from rota.worker.main import run_worker


def main() -> int:
    """Load the settings and run a worker; return its exit code."""
    limit_malloc_arenas()
    watch_parent()  # a worker `rota dev` started stops when `rota dev` is gone
    try:
        settings = settings_from_env() or load_settings()
    except (InvalidInput, ValidationError) as exc:
        sys.stderr.write(f"rota worker: error: {exc}\n")
        return 2
    return run_worker(settings)


# Guarded: a spawned child process imports this module as __mp_main__ and must not run it.
if __name__ == "__main__":
    sys.exit(main())
