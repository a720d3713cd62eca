"""The `rota` console script: the command line, loaded inside a guard.

A Ctrl-C while the command line still loads (its imports take a moment) or builds its
commands would otherwise print Python's traceback; here it ends as any interrupted command
does: one line on stderr and exit code 130. Nothing but the standard library is imported
before the guard. `rota.cli.main:main` still runs the command for anyone who imports it.
"""

from __future__ import annotations

import sys

_PROGRAM = "rota"
_EXIT_INTERRUPTED = 130  # as rota.cli.common.EXIT_INTERRUPTED, which is not loaded yet


def main() -> None:
    """Run the `rota` command; a Ctrl-C at any point exits 130 with one line, no traceback."""
    try:
        from rota.cli.main import main as run

        run()
    except KeyboardInterrupt:
        sys.stderr.write(f"{_PROGRAM}: interrupted\n")
        sys.exit(_EXIT_INTERRUPTED)
