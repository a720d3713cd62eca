"""Schedules from the Rota app: `app.schedule(...)` now, `@app.periodic(...)` declared in code.

    @app.periodic(cron="0 3 * * *", tz="Europe/Berlin")
    def nightly() -> None: ...

A periodic declaration is kept in the app's registry; a worker that imports the app
registers (creates or updates, by name) every declared schedule when it starts, so the
code is the schedule's source of truth and restarting workers changes nothing.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

from rota.client_schedules import ScheduleData, schedule_body
from rota.errors import InvalidInput
from rota.types import JSON

if TYPE_CHECKING:
    from rota.sync import Client
    from rota.tasks import TaskRegistry

F = TypeVar("F", bound=Callable[..., Any])


class ScheduleDeclarations:
    """The schedule methods of the Rota app (a mixin)."""

    registry: TaskRegistry

    if TYPE_CHECKING:  # provided by Rota

        @property
        def client(self) -> Client: ...

        def task(self, fn: Callable[..., Any], /) -> Any: ...

    def schedule(
        self,
        name: str,
        task: str | Any,
        *,
        args: Sequence[JSON] = (),
        kwargs: Mapping[str, JSON] | None = None,
        **options: Any,
    ) -> ScheduleData:
        """Create the schedule, or bring the one of that name up to this definition, now.

        `task` is a task name or a task object; options: cron= or interval= (seconds),
        tz=, queue=, priority=, target=, max_attempts=, timeout=, jitter=, start_at=,
        end_at=, paused=, misfire= ("skip", "once", "all"), misfire_limit=, overlap=
        ("allow", "skip"), deadline=.
        """
        body = schedule_body(_task_name(task), args, kwargs, **options)
        return self.client.put_schedule(name, body.pop("task"), *body.pop("args"), **body)

    def periodic(
        self,
        *,
        cron: str | None = None,
        interval: float | None = None,
        tz: str | None = None,
        name: str | None = None,
        args: Sequence[JSON] = (),
        kwargs: Mapping[str, JSON] | None = None,
        **options: Any,
    ) -> Callable[[F], F]:
        """Declare a schedule for a task (a plain function is registered as a task first).

        Workers importing the app register it when they start. `name` defaults to the
        task's name; the other options are those of `schedule()`.
        """
        if (cron is None) == (interval is None):
            raise InvalidInput("give exactly one of cron and interval")

        def declare(target: F) -> F:
            declared = target if hasattr(target, "definition") else self.task(target)
            task_name = _task_name(declared)
            body = schedule_body(
                task_name, args, kwargs, cron=cron, interval=interval, tz=tz, **options
            )
            self.registry.periodic[name or task_name] = body
            return declared

        return declare


def _task_name(task: str | Any) -> str:
    if isinstance(task, str):
        return task
    definition = getattr(task, "definition", None)
    task_name = getattr(definition, "name", None)
    if not isinstance(task_name, str):
        raise InvalidInput(f"{task!r} is neither a task name nor a task")
    return task_name
