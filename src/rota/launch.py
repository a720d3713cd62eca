"""Long-running processes in lean programs: `rota worker` and `rota server` resolve their
settings, then become (exec) `python -m rota.worker` or `python -m rota.server`, which load
only what a worker or a server needs.

The command line (typer, click, rich, every command's module, and for a worker the HTTP
client) costs each such process about 10 MiB of resident memory it would never use again;
the same process, replaced by the lean program, keeps its pid, its signals and its exit
code. The settings travel, already checked, as JSON in one environment variable that the
lean program removes before anything else runs (no task's process inherits it).
"""

from __future__ import annotations

import ctypes
import gc
import importlib.util
import os
import sys
from collections.abc import MutableMapping
from typing import NoReturn

from rota.settings import Settings

M_ARENA_MAX = -8
"""glibc's mallopt() parameter for the most malloc arenas (<malloc.h>)."""
MALLOC_ARENAS = 2

SETTINGS_ENV = "ROTA_RESOLVED_SETTINGS"
"""The environment variable holding the resolved settings, as JSON (not a setting itself)."""


def can_exec() -> bool:
    """Tell whether this platform replaces a process in place (os.execv keeps the pid)."""
    return os.name == "posix"


def exec_lean(module: str, settings: Settings) -> NoReturn:
    """Replace this process with `python -m <module>` running with `settings`.

    Raises OSError if the program cannot be started (this process then carries on).
    """
    from rota.cli.orphans import keep_parent_link

    env = dict(os.environ)
    env[SETTINGS_ENV] = settings.model_dump_json()
    keep_parent_link(env)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(sys.executable, [sys.executable, "-m", module], env)


def settings_from_env(environ: MutableMapping[str, str] | None = None) -> Settings | None:
    """Take (and remove, so no task's process inherits it) the settings `rota worker` or
    `rota server` passed; None when it passed none. pydantic's ValidationError if they
    are not valid settings."""
    env: MutableMapping[str, str] = os.environ if environ is None else environ
    text = env.pop(SETTINGS_ENV, None)
    if text is None:
        return None
    return Settings.model_validate_json(text)


def limit_malloc_arenas(count: int = MALLOC_ARENAS) -> bool:
    """Make this process's threads share at most `count` malloc arenas (glibc only; called
    before any thread starts). By default glibc gives busy threads arenas of their own, up
    to 8 per core, and each keeps what it once held: a server's database threads and a
    worker's job threads then hold several MiB each that the process never gives back.
    Return whether the limit was set (False elsewhere than glibc)."""
    if not sys.platform.startswith("linux"):
        return False
    try:
        libc = ctypes.CDLL(None)
        mallopt = libc.mallopt
    except (OSError, AttributeError):  # not glibc
        return False
    return bool(mallopt(M_ARENA_MAX, count))


def freeze_loaded_objects() -> int:
    """Put every object alive now (the modules, classes and tables a lean program loaded
    before it serves) out of the cyclic garbage collector's reach, after one collection;
    return how many objects are frozen.

    They live as long as the process, yet each collection of the oldest generation walked
    them all again: on a server taking bulk submits, whose every batch makes thousands of
    short-lived objects, that was about 2 us of its CPU per job (of some 32). New objects
    are collected as ever (gc.freeze, the CPython documentation)."""
    gc.collect()
    gc.freeze()
    return gc.get_freeze_count()


def uvloop_installed() -> bool:
    """Tell whether uvloop can be imported (uvicorn[standard] brings it where it builds).

    The server and the worker run their event loop on it when it is: its wake-ups, timers
    and socket writes cost a fraction of asyncio's on every request and every frame.
    """
    return importlib.util.find_spec("uvloop") is not None
