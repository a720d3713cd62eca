"""Eager mode: submissions run at once in this process, through the real checks and rules."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator

import pytest

from rota.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    InvalidValue,
    JobExpired,
    JobFailed,
    JobNotFound,
    ServerUnavailable,
    UnknownTask,
)
from rota.jobs import JobState
from rota.testing import EagerRunner, eager
from tests.testing import eager_app
from tests.testing.eager_app import add, app, flaky, greet, pair, progress, slow, unsendable


@pytest.fixture
def runner() -> Iterator[EagerRunner]:
    eager_app.calls.clear()
    with eager(app) as running:
        yield running


def test_submit_runs_the_job_and_the_handle_has_its_result(runner: EagerRunner) -> None:
    handle = add.submit(2, 3)
    assert handle.job["state"] == "succeeded"
    assert handle.result() == 5
    assert handle.status() is JobState.SUCCEEDED
    (job,) = runner.jobs
    assert (job.task, job.args, job.attempt, job.worker) == (
        "tests.testing.eager_app.add",
        [2, 3],
        1,
        "eager",
    )
    kinds = [event.kind for event in runner.events(job.id)]
    assert kinds == ["submitted", "started", "succeeded"]


def test_a_failed_attempt_with_attempts_left_runs_again(runner: EagerRunner) -> None:
    handle = flaky.submit(2)
    assert handle.result() == 3
    assert eager_app.calls == ["flaky 1", "flaky 2", "flaky 3"]
    events = [(event.kind, event.attempt) for event in runner.events(handle.id)]
    assert ("retrying", 1) in events and ("retrying", 2) in events
    assert ("log", 3) in events


def test_out_of_attempts_the_job_fails_with_the_tasks_traceback(runner: EagerRunner) -> None:
    handle = flaky.submit(9)
    with pytest.raises(JobFailed, match="ConnectionError: attempt 3 failed") as failed:
        handle.result()
    assert failed.value.traceback is not None
    assert "raise ConnectionError" in failed.value.traceback
    assert handle.job["attempt"] == 3 and handle.job["state"] == "failed"


def test_job_options_bound_with_options_apply(runner: EagerRunner) -> None:
    handle = flaky.options(max_attempts=1).submit(1)
    with pytest.raises(JobFailed):
        handle.result()
    assert eager_app.calls == ["flaky 1"]


def test_a_timeout_stops_the_attempt_and_counts_it(runner: EagerRunner) -> None:
    handle = slow.submit()
    with pytest.raises(JobFailed, match=r"did not finish within 0\.2s"):
        handle.result()
    assert handle.job["attempt"] == 2


def test_results_travel_as_json_or_fail_for_good(runner: EagerRunner) -> None:
    assert pair.submit().result() == [1, 2]
    handle = unsendable.submit()
    with pytest.raises(JobFailed, match="cannot be sent"):
        handle.result()
    assert handle.job["attempt"] == 1  # not retried: it would give the same result


def test_async_tasks_and_progress(runner: EagerRunner) -> None:
    assert greet.submit("Ada").result() == "Hello, Ada!"
    handle = progress.submit()
    assert handle.result() == "done" and handle.job["progress"] == 0.5


@pytest.mark.parametrize(
    ("submit", "error", "words"),
    [
        (lambda: add.submit(1, {1, 2}), InvalidValue, "args[1]"),
        (lambda: add.submit(1, 2, priority="high"), InvalidInput, "priority"),
        (lambda: add.submit(1, 2, queue="no spaces"), InvalidInput, "queue"),
        (lambda: add.submit(1, 2, delay=1, run_at="2030-01-01T00:00:00Z"), InvalidInput, "run_at"),
        (lambda: app.submit("rota.echo", colour="blue"), InvalidInput, "colour"),
        (lambda: app.submit("no.such.task"), UnknownTask, "no.such.task"),
    ],
)
def test_bad_submissions_are_refused_as_a_server_refuses_them(
    runner: EagerRunner, submit: object, error: type[Exception], words: str
) -> None:
    with pytest.raises(error, match=words.replace("[", r"\[").replace("]", r"\]")):
        submit()  # type: ignore[operator]
    assert runner.jobs == []


def test_wrong_arguments_fail_the_job_for_good(runner: EagerRunner) -> None:
    handle = add.submit(1)
    with pytest.raises(JobFailed, match="TypeError"):
        handle.result()
    assert handle.job["attempt"] == 1


def test_a_passed_deadline_expires_the_job(runner: EagerRunner) -> None:
    handle = add.submit(1, 2, deadline="2000-01-01T00:00:00+00:00")
    with pytest.raises(JobExpired):
        handle.result()
    assert eager_app.calls == []


def test_idempotency_keys_as_on_a_server(runner: EagerRunner) -> None:
    first = add.submit(1, 2, idempotency_key="k")
    again = add.submit(1, 2, idempotency_key="k")
    assert again.id == first.id and len(runner.jobs) == 1
    later = add.submit(1, 2, idempotency_key="k", delay=60)  # times are not compared
    assert later.id == first.id
    with pytest.raises(IdempotencyConflict):
        add.submit(5, 5, idempotency_key="k")
    with pytest.raises(IdempotencyConflict):
        add.submit(1, 2, idempotency_key="k", priority=5)


def test_a_finished_job_cannot_be_cancelled_and_unknown_ids_are_not_found(
    runner: EagerRunner,
) -> None:
    handle = add.submit(1, 2)
    with pytest.raises(InvalidTransition):
        handle.cancel()
    with pytest.raises(JobNotFound):
        runner.get_job("nope")


def test_submit_by_name_and_builtin_tasks(runner: EagerRunner) -> None:
    assert app.submit("rota.echo", "hi").result() == "hi"


async def test_from_async_code(runner: EagerRunner) -> None:
    handle = await add.asubmit(4, 5)
    assert await handle.aresult() == 9
    # A sync submit inside a running event loop works too: the job runs in a thread.
    assert add.submit(1, 1).result() == 2
    assert (await app.asubmit("rota.echo", 7)).job["result"] == 7
    await asyncio.sleep(0)


def test_the_app_talks_to_its_server_again_afterwards() -> None:
    with eager(app):
        assert add.submit(1, 2).result() == 3
    with pytest.raises(ServerUnavailable):
        add.submit(1, 2)
    app.close()


def test_builtin_http_and_shell_are_refused_unless_allowed_as_on_a_worker() -> None:
    with eager(app):
        http = app.submit("rota.http", "http://127.0.0.1:9/")
        shell = app.submit("rota.shell", "echo hi")
        for handle, flag in ((http, "--allow-http"), (shell, "--allow-shell")):
            with pytest.raises(JobFailed, match=flag):
                handle.result()
            assert handle.job["attempt"] == 1  # refused for good: no retry
    with eager(app, allow_http=["*.example.com"]):
        with pytest.raises(JobFailed, match=r"may not call '127\.0\.0\.1'"):
            app.submit("rota.http", "http://127.0.0.1:9/").result()
    with eager(app, allow_shell=True):
        assert app.submit("rota.shell", "echo hi").result()["stdout"] == "hi\n"
