"""Where the peers' virtual environments are kept unless told (`rota bench --venvs`).

A module of its own, so that the command line shows this default without loading the bench.
"""

from __future__ import annotations

from pathlib import Path

DEFAULT_CACHE = Path.home() / ".cache" / "rota-bench" / "venvs"
