"""Run a server with `python -m rota.server`, configured by ROTA_* variables and rota.toml.

`rota server` becomes this program once it has resolved its settings (rota.launch): it
loads nothing of the command line, so the server process stays small. Failures are one
line on stderr, as the `rota` command prints them.
"""

from __future__ import annotations

import sys

import anyio
from pydantic import ValidationError

from rota.cli.orphans import watch_parent
from rota.errors import InvalidInput, RotaError
from rota.launch import (
    freeze_loaded_objects,
    limit_malloc_arenas,
    settings_from_env,
    uvloop_installed,
)
from rota.settings import load_settings

EXIT_FAILURE = 1
EXIT_INTERRUPTED = 130


def main() -> int:
    """Load the settings and serve until SIGINT or SIGTERM; return the exit code."""
    limit_malloc_arenas()
    watch_parent()  # a server `rota dev` started stops when `rota dev` is gone
    try:
        settings = settings_from_env() or load_settings()
    except (InvalidInput, ValidationError) as exc:
        sys.stderr.write(f"rota: error: {exc}\n")
        return EXIT_FAILURE
    from rota.server.main import serve

    freeze_loaded_objects()  # what is loaded by now lives as long as the server

    try:
        anyio.run(serve, settings, backend_options={"use_uvloop": uvloop_installed()})
    except RotaError as exc:
        sys.stderr.write(f"rota: error: {exc.message}\n")
        return EXIT_FAILURE
    except KeyboardInterrupt:
        sys.stderr.write("rota: interrupted\n")
        return EXIT_INTERRUPTED
    return 0


if __name__ == "__main__":
    sys.exit(main())
