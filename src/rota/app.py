"""The Rota app: `@app.task` registers tasks and gives them a typed `submit()`.

    app = Rota("http://127.0.0.1:8077")

    @app.task
    def add(x: int, y: int) -> int:
        return x + y

    handle = add.submit(1, 2)             # JobHandle[int]
    assert handle.result(timeout=10) == 3

Keyword arguments of `submit()` named like a job option (delay, run_at, queue, priority,
max_attempts, timeout, deadline, idempotency_key, target) are job options, not arguments
of the task. `task.options(queue="fast", delay=5)` binds options ahead of time: its
`submit()` passes every keyword argument to the task, and type checkers see exactly the
task's parameters.
"""

from __future__ import annotations

import asyncio
import sys
import threading
from collections.abc import Callable, Coroutine, Mapping, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import (
    TYPE_CHECKING,
    Any,
    Generic,
    ParamSpec,
    Protocol,
    TypedDict,
    TypeVar,
    Unpack,
    overload,
)

from rota.app_schedules import ScheduleDeclarations
from rota.client_urls import ca_from, server_from, token_from, with_scheme
from rota.errors import InvalidInput, JobCancelled, JobExpired, JobFailed
from rota.jobs import JobState
from rota.tasks import TaskDef, TaskRegistry
from rota.types import JSON, JobId

if TYPE_CHECKING:  # the clients (httpx) load on first use: a worker importing tasks needs none
    from rota.client import AsyncClient, JobData
    from rota.sync import Client

P = ParamSpec("P")
R = TypeVar("R")


class JobOptions(TypedDict, total=False):
    """Options of one job; those left out take the task's defaults, then the server's."""

    delay: float | timedelta
    """Seconds from now until the job is due."""
    run_at: datetime | str
    """When the job is due: an aware datetime or ISO 8601 text with an offset."""
    queue: str
    priority: int
    max_attempts: int
    timeout: float | timedelta
    """Seconds one attempt may run."""
    deadline: datetime | str
    """If the job has not started by then, it expires."""
    idempotency_key: str
    target: str
    """A worker name or tag: only matching workers run the job."""


JOB_OPTIONS = frozenset(JobOptions.__annotations__)
"""The keyword arguments of `submit()` that are job options rather than task arguments."""


class JobRunner(Protocol):
    """What takes an app's submissions instead of a server (rota.testing's eager mode)."""

    def submit(
        self,
        task: str,
        args: Sequence[JSON],
        kwargs: Mapping[str, JSON] | None,
        options: Mapping[str, Any],
    ) -> JobData:
        """Submit a job and return it."""
        ...

    def get_job(self, job_id: JobId) -> JobData:
        """Return the job (JobNotFound for an unknown id)."""
        ...

    def cancel(self, job_id: JobId) -> JobData:
        """Cancel the job and return it."""
        ...


class Rota(ScheduleDeclarations):
    """A Rota app: the tasks it defines (its `registry`) and the server it submits to.

    Workers find the app with `rota worker --import module`, which looks for an attribute
    holding a `registry`. Nothing connects until the first submission.
    """

    def __init__(
        self, url: str | None = None, *, token: str | None = None, ca: str | Path | None = None
    ) -> None:
        self.url = with_scheme(url) if url else server_from()
        """The server's URL: given, else the first of $ROTA_SERVER, else the local default;
        without a scheme (localhost:8077) it is http://."""
        self.token = token_from() if token is None else token
        """The bearer token: given, else $ROTA_TOKEN."""
        self.ca = ca_from() if ca is None else ca
        """The CA file an https:// server is verified with: given, else $ROTA_CA, else None
        (the system's trust store)."""
        self.registry = TaskRegistry()
        self._client: Client | None = None
        self._client_lock = threading.Lock()
        self._runner: JobRunner | None = None

    @property
    def client(self) -> Client:
        """Return the app's sync client, created on first use."""
        with self._client_lock:
            if self._client is None:
                from rota.sync import Client

                self._client = Client(self.url, token=self.token, ca=self.ca)
            return self._client

    def async_client(self) -> AsyncClient:
        """Return a new AsyncClient for this app's server; the caller closes it.

        A new one each time, because an AsyncClient belongs to the event loop it first
        runs in.
        """
        from rota.client import AsyncClient

        return AsyncClient(self.url, token=self.token, ca=self.ca)

    def use_runner(self, runner: JobRunner | None) -> JobRunner | None:
        """Send the app's submissions to `runner` instead of its server (None: the server
        again) and return the runner used before; see rota.testing.eager."""
        previous, self._runner = self._runner, runner
        return previous

    def _submit(
        self,
        task: str,
        args: Sequence[JSON],
        kwargs: Mapping[str, JSON] | None,
        options: Mapping[str, Any],
    ) -> JobData:
        runner = self._runner
        if runner is not None:
            return runner.submit(task, args, kwargs, options)
        return self.client.submit(task, args, kwargs, **options)

    async def _asubmit(
        self,
        task: str,
        args: Sequence[JSON],
        kwargs: Mapping[str, JSON] | None,
        options: Mapping[str, Any],
    ) -> JobData:
        runner = self._runner
        if runner is not None:
            return await asyncio.to_thread(runner.submit, task, args, kwargs, options)
        async with self.async_client() as client:
            return await client.submit(task, args, kwargs, **options)

    def close(self) -> None:
        """Close the app's client, if one was created."""
        with self._client_lock:
            client, self._client = self._client, None
        if client is not None:
            client.close()

    @overload
    def task(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncTask[P, R]: ...

    @overload
    def task(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    @overload
    def task(
        self,
        fn: None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        isolated: bool = False,
    ) -> _Decorator: ...

    def task(
        self,
        fn: Callable[..., Any] | None = None,
        /,
        *,
        name: str | None = None,
        queue: str | None = None,
        priority: int | None = None,
        max_attempts: int | None = None,
        timeout: float | None = None,
        isolated: bool = False,
    ) -> Task[Any, Any] | _Decorator:
        """Register a function as a task, with or without options.

        The task's name defaults to "<module>.<qualified name>" (the file's stem for a
        script run as __main__); `timeout` is in seconds; `isolated` runs each call of a
        sync task in its own process so that its timeout can kill it.
        """
        decorator = _Decorator(
            self,
            name=name,
            defaults=_without_none(
                queue=queue, priority=priority, max_attempts=max_attempts, timeout_s=timeout
            ),
            isolated=isolated,
        )
        return decorator if fn is None else decorator(fn)

    def submit(
        self,
        task: str,
        *args: JSON,
        kwargs: Mapping[str, JSON] | None = None,
        **options: Unpack[JobOptions],
    ) -> JobHandle[Any]:
        """Submit a job for a task by name, with the task's arguments and job options."""
        _check_options(options)
        return JobHandle(self, self._submit(task, args, kwargs, options))

    async def asubmit(
        self,
        task: str,
        *args: JSON,
        kwargs: Mapping[str, JSON] | None = None,
        **options: Unpack[JobOptions],
    ) -> JobHandle[Any]:
        """Submit a job for a task by name, from async code."""
        _check_options(options)
        return JobHandle(self, await self._asubmit(task, args, kwargs, options))


class _Decorator:
    """What `@app.task(...)` returns: the decorator that registers the function."""

    def __init__(
        self, app: Rota, *, name: str | None, defaults: dict[str, Any], isolated: bool
    ) -> None:
        self._app = app
        self._name = name
        self._defaults = defaults
        self._isolated = isolated

    @overload
    def __call__(self, fn: Callable[P, Coroutine[Any, Any, R]], /) -> AsyncTask[P, R]: ...

    @overload
    def __call__(self, fn: Callable[P, R], /) -> Task[P, R]: ...

    def __call__(self, fn: Callable[..., Any], /) -> Task[Any, Any]:
        definition = self._app.registry.add(
            TaskDef(
                name=self._name or default_task_name(fn),
                fn=fn,
                isolated=self._isolated,
                **self._defaults,
            )
        )
        task_class = AsyncTask if definition.is_async else Task
        return task_class(self._app, definition)


class Task(Generic[P, R]):
    """A registered task: call it to run the function here, `submit()` to run it as a job."""

    def __init__(
        self, app: Rota, definition: TaskDef, options: Mapping[str, Any] | None = None
    ) -> None:
        self.app = app
        self.definition = definition
        self._bound = dict(options) if options is not None else None
        self.__doc__ = definition.fn.__doc__
        self.__wrapped__ = definition.fn

    @property
    def name(self) -> str:
        """Return the task's registered name."""
        return self.definition.name

    def __repr__(self) -> str:
        return f"<Task {self.name}>"

    def __call__(self, *args: P.args, **kwargs: P.kwargs) -> R:
        """Run the function directly, in this process; no job is created."""
        result: R = self.definition.fn(*args, **kwargs)
        return result

    def options(self, **options: Unpack[JobOptions]) -> Task[P, R]:
        """Return a copy of the task with job options bound.

        The copy's `submit()` passes every keyword argument to the task, so tasks with
        parameters named like job options can receive them.
        """
        bound = {**(self._bound or {}), **_check_options(options)}
        return type(self)(self.app, self.definition, bound)

    def submit(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Submit a job that runs the task with these arguments; return its handle."""
        task_kwargs, options = self._split(kwargs)
        return JobHandle(self.app, self.app._submit(self.name, args, task_kwargs, options))

    async def asubmit(self, *args: P.args, **kwargs: P.kwargs) -> JobHandle[R]:
        """Submit a job from async code; return its handle."""
        task_kwargs, options = self._split(kwargs)
        return JobHandle(self.app, await self.app._asubmit(self.name, args, task_kwargs, options))

    def _split(self, kwargs: dict[str, Any]) -> tuple[dict[str, Any], dict[str, Any]]:
        """Return the task's keyword arguments and the job's options, defaults filled in."""
        task_kwargs = dict(kwargs)
        if self._bound is None:
            options = {key: task_kwargs.pop(key) for key in JOB_OPTIONS & kwargs.keys()}
        else:
            options = dict(self._bound)
        definition = self.definition
        defaults = {
            "queue": definition.queue,
            "priority": definition.priority,
            "max_attempts": definition.max_attempts,
            "timeout": definition.timeout_s,
        }
        return task_kwargs, {**defaults, **options}


class AsyncTask(Task[P, R]):
    """A task whose function is a coroutine function: calling it returns a coroutine."""

    def __call__(  # type: ignore[override]
        self, *args: P.args, **kwargs: P.kwargs
    ) -> Coroutine[Any, Any, R]:
        """Return the coroutine of the function, to await here; no job is created."""
        coroutine: Coroutine[Any, Any, R] = self.definition.fn(*args, **kwargs)
        return coroutine


class JobHandle(Generic[R]):
    """A submitted job: its id, its state and, once it has finished, its result."""

    def __init__(self, app: Rota, job: JobData) -> None:
        self.app = app
        self.job = job
        """The job as last fetched from the server."""

    @property
    def id(self) -> JobId:
        """Return the job's id."""
        job_id: JobId = self.job["id"]
        return job_id

    def __repr__(self) -> str:
        return f"<JobHandle {self.id} {self.job['task']} {self.job['state']}>"

    def refresh(self) -> JobData:
        """Fetch the job again and return it."""
        runner = self.app._runner
        self.job = (runner or self.app.client).get_job(self.id)
        return self.job

    def status(self) -> JobState:
        """Fetch the job's current state."""
        return JobState(self.refresh()["state"])

    def cancel(self) -> JobData:
        """Cancel the job (InvalidTransition if it has finished) and return it."""
        runner = self.app._runner
        self.job = (runner or self.app.client).cancel(self.id)
        return self.job

    def result(self, timeout: float | None = None) -> R:
        """Wait for the job to finish (at most `timeout` seconds) and return its result.

        Raises JobFailed (with the task's traceback), JobCancelled or JobExpired when the
        job did not succeed, TimeoutExpired when the wait ends first.
        """
        runner = self.app._runner
        if runner is not None:  # its jobs have finished by the time submit() returns
            self.job = runner.get_job(self.id)
        else:
            self.job = self.app.client.wait(self.id, timeout_s=timeout)
        return self._outcome()

    async def aresult(self, timeout: float | None = None) -> R:  # noqa: ASYNC109 (a wait bound)
        """Wait for the job from async code; the same outcomes as `result()`."""
        runner = self.app._runner
        if runner is not None:
            self.job = runner.get_job(self.id)
            return self._outcome()
        async with self.app.async_client() as client:
            self.job = await client.wait(self.id, timeout_s=timeout)
        return self._outcome()

    def _outcome(self) -> R:
        job = self.job
        state = JobState(job["state"])
        label = f"job {self.id} ({job['task']})"
        if state is JobState.SUCCEEDED:
            result: R = job["result"]
            return result
        if state is JobState.FAILED:
            raise JobFailed(
                f"{label} failed: {job.get('error') or 'no error message'}",
                traceback=job.get("traceback"),
            )
        if state is JobState.CANCELLED:
            raise JobCancelled(f"{label} was cancelled")
        if state is JobState.EXPIRED:
            raise JobExpired(f"{label} expired: its deadline passed before it could start")
        raise InvalidInput(f"{label} has not finished: it is {state}")


def default_task_name(fn: Callable[..., Any]) -> str:
    """Return "<module>.<qualified name>"; a script run as __main__ uses its file stem."""
    qualname = getattr(fn, "__qualname__", getattr(fn, "__name__", ""))
    if "<" in qualname:
        raise InvalidInput(
            f"cannot name the task {qualname!r} (defined inside a function or a lambda): "
            "pass name= to @app.task"
        )
    module = getattr(fn, "__module__", None) or "__main__"
    if module == "__main__":
        main_file = getattr(sys.modules.get("__main__"), "__file__", None)
        module = Path(main_file).stem if main_file else "main"
    return f"{module}.{qualname}"


def _check_options(options: Mapping[str, Any]) -> dict[str, Any]:
    """Return the options, or raise InvalidInput naming any that is not a job option."""
    unknown = sorted(options.keys() - JOB_OPTIONS)
    if unknown:
        raise InvalidInput(
            f"unknown job option(s) {', '.join(unknown)}; "
            f"the options are {', '.join(sorted(JOB_OPTIONS))}"
        )
    return dict(options)


def _without_none(**values: Any) -> dict[str, Any]:
    return {key: value for key, value in values.items() if value is not None}
