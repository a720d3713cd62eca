"""Run a worker with `python -m rota.worker`, configured by ROTA_* variables and rota.toml."""

from __future__ import annotations

import sys

from rota.errors import InvalidInput
from rota.settings import load_settings
from rota.worker.main import run_worker


def main() -> int:
    """Load the settings and run a worker; return its exit code."""
    try:
        settings = load_settings()
    except InvalidInput as exc:
        sys.stderr.write(f"rota worker: error: {exc}\n")
        return 2
    return run_worker(settings)


# Guarded: a spawned child process imports this module as __mp_main__ and must not run it.
if __name__ == "__main__":
    sys.exit(main())
