"""Tasks: the registry of named callables a worker can run."""

from rota.tasks.registry import TaskDef, TaskRegistry, find_registries, validate_task_name

__all__ = ["TaskDef", "TaskRegistry", "find_registries", "validate_task_name"]
