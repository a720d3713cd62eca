"""The Rota app: @app.task registration, typed submit, options and JobHandle outcomes."""

from __future__ import annotations

import asyncio
import sys
import types
from collections.abc import Iterator
from pathlib import Path

import pytest

from rota import AsyncTask, JobHandle, JobState, Rota, Task
from rota.app import JOB_OPTIONS, default_task_name
from rota.errors import InvalidInput, JobCancelled, JobFailed, TimeoutExpired
from rota.jobs import Lease
from rota.store.base import AcquireRequest
from rota.tasks import find_registries
from tests.client import sample_app
from tests.client.live import LiveServer, running_server


@pytest.fixture
def live_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server that takes tasks no worker has announced yet (most tests run no worker)."""
    with running_server(tmp_path / "rota.db", strict_tasks=False) as live:
        yield live


@pytest.fixture
def app(live_server: LiveServer) -> Iterator[Rota]:
    """The sample app, pointed at the live server for the test."""
    sample_app.app.url = live_server.url
    try:
        yield sample_app.app
    finally:
        sample_app.app.close()


def test_tasks_are_registered_under_their_module_and_name() -> None:
    registry = sample_app.app.registry
    assert registry.names() == [
        "sample.greet",
        "tests.client.sample_app.add",
        "tests.client.sample_app.configure",
        "tests.client.sample_app.explode",
    ]
    assert sample_app.add.name == "tests.client.sample_app.add"
    greet = registry.get("sample.greet")
    assert greet is not None and greet.max_attempts == 1 and greet.is_async
    assert isinstance(sample_app.add, Task) and not isinstance(sample_app.add, AsyncTask)
    assert isinstance(sample_app.greet, AsyncTask)


def test_a_worker_finds_the_app() -> None:
    assert find_registries("tests.client.sample_app") == [sample_app.app.registry]
    assert find_registries("tests.client.sample_app:app") == [sample_app.app.registry]


def test_tasks_still_run_when_called_directly() -> None:
    assert sample_app.add(2, 3) == 5
    assert asyncio.run(sample_app.greet("Ada")) == "Hello, Ada!"
    assert sample_app.add.__doc__ is None
    assert sample_app.configure.__doc__ == "A task whose parameters use the names of job options."


def test_decorator_options_become_task_defaults() -> None:
    app = Rota()

    @app.task(name="custom.name", queue="slow", priority=3, max_attempts=9, timeout=2.5)
    def work() -> None: ...

    definition = app.registry.get("custom.name")
    assert definition is not None
    assert (definition.queue, definition.priority, definition.max_attempts) == ("slow", 3, 9)
    assert definition.timeout_s == 2.5
    assert work.name == "custom.name"


def test_bad_task_names_are_refused() -> None:
    app = Rota()

    def make() -> None:
        @app.task
        def inner() -> None: ...

    with pytest.raises(InvalidInput, match="name="):
        make()
    with pytest.raises(InvalidInput, match="invalid task name"):
        app.task(name="not a name")(lambda: None)

    @app.task(name="dup.task")
    def one() -> None: ...

    with pytest.raises(InvalidInput, match="two tasks"):

        @app.task(name="dup.task")
        def two() -> None: ...


def test_a_script_run_as_main_names_tasks_after_its_file(monkeypatch: pytest.MonkeyPatch) -> None:
    def job() -> None: ...

    job.__module__ = "__main__"
    job.__qualname__ = "job"
    main = types.ModuleType("__main__")
    main.__file__ = "/somewhere/my_tasks.py"
    monkeypatch.setitem(sys.modules, "__main__", main)
    assert default_task_name(job) == "my_tasks.job"


def test_options_refuses_unknown_names() -> None:
    with pytest.raises(InvalidInput, match="bogus"):
        sample_app.add.options(bogus=1)  # type: ignore[call-arg]
    assert {"delay", "run_at", "queue", "priority", "max_attempts"} <= JOB_OPTIONS


def test_submit_splits_job_options_from_task_arguments(app: Rota) -> None:
    handle = sample_app.greet.submit("Ada", punctuation="?", delay=60, priority=4)  # type: ignore[call-arg]
    assert isinstance(handle, JobHandle)
    job = handle.job
    assert job["task"] == "sample.greet"
    assert (job["args"], job["kwargs"]) == (["Ada"], {"punctuation": "?"})
    assert (job["priority"], job["max_attempts"]) == (4, 1)  # max_attempts from the decorator
    assert handle.status() is JobState.PENDING


def test_options_pass_every_keyword_to_the_task(app: Rota) -> None:
    bound = sample_app.configure.options(queue="ops", delay=60)
    handle = bound.submit(queue="from-task", priority=7)
    assert handle.job["kwargs"] == {"queue": "from-task", "priority": 7}
    assert handle.job["queue"] == "ops"
    assert bound.name == sample_app.configure.name
    # The original task is unchanged: its job options still come out of submit's kwargs.
    plain = sample_app.configure.submit("q", 1, queue="other", delay=60)  # type: ignore[call-arg, misc]
    assert (plain.job["args"], plain.job["kwargs"], plain.job["queue"]) == (["q", 1], {}, "other")


def test_app_submit_by_name(app: Rota) -> None:
    handle = app.submit("rota.echo", 1, 2, kwargs={"k": "v"}, delay=60, queue="by-name")
    assert (handle.job["args"], handle.job["kwargs"]) == ([1, 2], {"k": "v"})
    assert handle.job["queue"] == "by-name"
    assert handle.refresh()["id"] == handle.id


def test_result_raises_job_failed_with_the_traceback(app: Rota, live_server: LiveServer) -> None:
    handle = sample_app.explode.submit("boom")
    live_server.run(_fail(live_server, handle.id, "ValueError: boom", "Traceback: line 1"))
    with pytest.raises(JobFailed, match="boom") as raised:
        handle.result(timeout=5)
    assert raised.value.traceback == "Traceback: line 1"
    assert handle.job["state"] == "failed"


def test_result_raises_job_cancelled(app: Rota) -> None:
    handle = sample_app.add.submit(1, 2, delay=60)  # type: ignore[call-arg]
    assert handle.cancel()["state"] == "cancelled"
    with pytest.raises(JobCancelled):
        handle.result(timeout=5)


def test_result_times_out_on_a_job_that_does_not_finish(app: Rota) -> None:
    handle = sample_app.add.submit(1, 2, delay=60)  # type: ignore[call-arg]
    with pytest.raises(TimeoutExpired):
        handle.result(timeout=0.2)


async def test_asubmit_and_aresult(app: Rota, live_server: LiveServer) -> None:
    handle = await sample_app.add.asubmit(20, 22)
    assert handle.job["args"] == [20, 22]
    await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(_complete(live_server, handle.id, 42), live_server.loop)
    )
    assert await handle.aresult(timeout=5) == 42
    by_name = await app.asubmit("rota.echo", "x", delay=60)
    assert by_name.job["args"] == ["x"]


def test_a_real_worker_runs_the_apps_tasks(app: Rota, worker_process: object) -> None:
    assert sample_app.add.submit(1, 2).result(timeout=10) == 3
    assert sample_app.greet.submit("Ada").result(timeout=10) == "Hello, Ada!"
    with pytest.raises(JobFailed, match="kaboom") as raised:
        sample_app.explode.submit("kaboom").result(timeout=10)
    assert raised.value.traceback is not None and "ValueError" in raised.value.traceback


async def _claim(live: LiveServer, job_id: str) -> Lease:
    claimed = await live.store.acquire(AcquireRequest(worker="pretend", queues=["default"]))
    assert [job.id for job in claimed] == [job_id]
    token = claimed[0].lease_token
    assert token is not None
    return Lease(job_id=job_id, token=token)


async def _fail(live: LiveServer, job_id: str, error: str, traceback: str) -> None:
    lease = await _claim(live, job_id)
    await live.store.fail(lease, error=error, traceback=traceback, retryable=False)


async def _complete(live: LiveServer, job_id: str, result: object) -> None:
    await live.store.complete(await _claim(live, job_id), result)
