"""The lean programs' start: what they load before serving is frozen out of the collector."""

from __future__ import annotations

import subprocess
import sys
import textwrap
from typing import Any

import pytest

from rota.settings import settings_of

PROBE = textwrap.dedent(
    """
    import gc, weakref
    from rota.launch import freeze_loaded_objects

    class Node:
        pass

    frozen = freeze_loaded_objects()
    assert frozen == gc.get_freeze_count() > 1000, frozen
    node = Node()
    node.self = node  # a cycle made after the freeze is still collected
    gone = weakref.ref(node)
    del node
    gc.collect()
    assert gone() is None
    print("ok")
    """
)


def test_loaded_objects_are_frozen_and_new_cycles_still_collected() -> None:
    # In a process of its own: freezing this one would keep the test run's garbage.
    done = subprocess.run(
        [sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=60, check=False
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "ok"


def test_the_server_program_runs_on_uvloop(monkeypatch: pytest.MonkeyPatch) -> None:
    # `rota server` execs `python -m rota.server`: that program, not only the in-process
    # fallback, must pick uvloop (its requests cost about a third less CPU on it).
    from rota.server import __main__ as server_main

    runs: list[dict[str, Any]] = []
    monkeypatch.setattr(server_main, "settings_from_env", lambda: settings_of({"db": ":memory:"}))
    monkeypatch.setattr(server_main, "watch_parent", lambda: None)
    monkeypatch.setattr(server_main, "freeze_loaded_objects", lambda: 0)
    monkeypatch.setattr(server_main.anyio, "run", lambda *args, **kw: runs.append(kw))
    assert server_main.main() == 0
    assert runs == [{"backend_options": {"use_uvloop": True}}]


def test_the_worker_program_runs_on_uvloop() -> None:
    import uvloop

    from rota.worker.main import _loop_factory

    factory = _loop_factory()
    assert factory is uvloop.new_event_loop
    loop = factory()
    try:
        assert isinstance(loop, uvloop.Loop)
    finally:
        loop.close()
