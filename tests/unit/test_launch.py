"""The lean programs' start: what they load before serving is frozen out of the collector."""

from __future__ import annotations

import subprocess
import sys
import textwrap

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
