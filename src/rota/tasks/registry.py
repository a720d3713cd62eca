"""The task registry: names to callables, with their default job options."""

from __future__ import annotations

import importlib
import inspect
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from types import ModuleType
from typing import Any

from rota.errors import InvalidInput
from rota.jobs import DEFAULT_MAX_ATTEMPTS, DEFAULT_QUEUE
from rota.safe_text import excerpt

TASK_NAME_PATTERN = r"^[A-Za-z_][A-Za-z0-9_]*(\.[A-Za-z_][A-Za-z0-9_]*)*$"
"""As JSON Schema reads it (`$` ends the text), so a name is matched whole (fullmatch): in
Python, `$` also matches before a final newline."""
TASK_NAME = re.compile(TASK_NAME_PATTERN)
MAX_TASK_NAME = 200


def validate_task_name(name: str) -> str:
    """Return the name if it is a dotted Python-style identifier, else raise InvalidInput."""
    if len(name) > MAX_TASK_NAME or not TASK_NAME.fullmatch(name):
        raise InvalidInput(
            f"invalid task name {excerpt(name)}: use dotted identifiers like 'app.add'"
        )
    return name


@dataclass(frozen=True, kw_only=True, slots=True)
class TaskDef:
    """A registered task: the callable and the defaults its jobs get."""

    name: str
    fn: Callable[..., Any]
    queue: str = DEFAULT_QUEUE
    priority: int = 0
    max_attempts: int = DEFAULT_MAX_ATTEMPTS
    timeout_s: float | None = None
    isolated: bool = False
    """Run each call in its own process, so a timeout can kill it (sync tasks only)."""
    needs_shell: bool = False
    """Refused unless the worker allows shell tasks."""
    needs_http: bool = False
    """Refused unless the worker allows some HTTP hosts (it checks each host itself)."""

    @property
    def is_async(self) -> bool:
        """Tell whether the task runs on the worker's event loop."""
        return inspect.iscoroutinefunction(self.fn)


class TaskRegistry:
    """Task names mapped to their definitions."""

    def __init__(self) -> None:
        self._tasks: dict[str, TaskDef] = {}
        self.periodic: dict[str, dict[str, Any]] = {}
        """Schedules declared in code (`@app.periodic`): name -> the schedule's REST body.
        A worker that imports the registry registers them when it starts."""

    def add(self, task: TaskDef) -> TaskDef:
        """Register a task; a second task with the same name and another callable is an error."""
        validate_task_name(task.name)
        existing = self._tasks.get(task.name)
        if existing is not None and existing.fn is not task.fn:
            raise InvalidInput(f"two tasks are named {task.name!r}")
        self._tasks[task.name] = task
        return task

    def get(self, name: str) -> TaskDef | None:
        """Return the task of that name, or None."""
        return self._tasks.get(name)

    def merge(self, other: TaskRegistry) -> None:
        """Add every task of another registry."""
        for task in other:
            self.add(task)
        self.periodic.update(other.periodic)

    def names(self) -> list[str]:
        """Return the registered names, sorted."""
        return sorted(self._tasks)

    def __iter__(self) -> Iterator[TaskDef]:
        return iter(list(self._tasks.values()))

    def __len__(self) -> int:
        return len(self._tasks)

    def __contains__(self, name: object) -> bool:
        return name in self._tasks


def find_registries(spec: str) -> list[TaskRegistry]:
    """Import `module` or `module:attribute` and return the task registries it holds.

    A module is searched for every attribute that has a `registry` TaskRegistry (a Rota
    app) or is a TaskRegistry itself.
    """
    module_name, _, attribute = spec.partition(":")
    try:
        module: ModuleType = importlib.import_module(module_name)
    except ImportError as exc:
        raise InvalidInput(f"cannot import {module_name!r}: {exc}") from None
    candidates = [getattr(module, attribute, None)] if attribute else list(vars(module).values())
    found: list[TaskRegistry] = []
    for value in candidates:
        registry = value if isinstance(value, TaskRegistry) else getattr(value, "registry", None)
        if isinstance(registry, TaskRegistry) and registry not in found:
            found.append(registry)
    if attribute and not found:
        raise InvalidInput(f"{spec!r} is not a Rota app or task registry")
    return found
