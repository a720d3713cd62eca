"""Tasks that raise exceptions which cannot describe themselves: their `__str__` raises.

Importable by name, so that the isolated children of the worker tests find them too.
"""

from __future__ import annotations

from rota.tasks.registry import TaskDef, TaskRegistry


class Unprintable(Exception):
    """An exception whose text cannot be read."""

    def __str__(self) -> str:
        raise RuntimeError("this exception cannot be printed")


def unprintable() -> None:
    raise Unprintable


async def async_unprintable() -> None:
    raise Unprintable


def isolated_unprintable() -> None:
    raise Unprintable


registry = TaskRegistry()
registry.add(TaskDef(name="t.unprintable", fn=unprintable))
registry.add(TaskDef(name="t.async_unprintable", fn=async_unprintable))
registry.add(TaskDef(name="t.isolated_unprintable", fn=isolated_unprintable, isolated=True))
