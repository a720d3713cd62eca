"""What a task gives back that UTF-8 cannot encode: a result fails the job at once, for good,
saying why; an error, printed output, log lines and progress arrive escaped, never lost."""

from __future__ import annotations

from collections.abc import Callable

import pytest
import worker_sample_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

from rota import protocol
from rota.values import MAX_LOG_LINE_CHARS
from rota.worker.capture import capturing
from rota.worker.outbox import MAX_BUFFERED_LINES, LogBuffer

Start = Callable[..., WorkerRun]
ESCAPED = "caf\\udce9.txt"


@pytest.mark.parametrize(
    ("task", "where"),
    [
        ("t.surrogate_result", "result[0]"),
        ("t.async_surrogate_result", "result.name"),
        ("t.isolated_surrogate_result", "result"),
    ],
)
async def test_a_result_with_a_lone_surrogate_fails_at_once_for_good(
    server: FakeServer, start_worker: Start, task: str, where: str
) -> None:
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", task))
    failure = await server.wait_message("failure", "j1")
    assert failure["error"] == (
        f"the task's result cannot be sent: {where}: "
        "string contains a lone surrogate (\\udce9) at index 3"
    )
    assert failure["retryable"] is False
    assert not server.of_type("result", "j1")


async def test_an_error_quoting_an_undecodable_name_arrives_escaped(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.surrogate_error"))
    failure = await server.wait_message("failure", "j1")
    assert failure["error"] == f"FileNotFoundError: no such file: {ESCAPED}"
    assert ESCAPED in failure["traceback"]
    assert failure["retryable"] is True


def log_lines(server: FakeServer, job_id: str) -> list[tuple[str, str]]:
    return [
        (line["stream"], line["message"])
        for message in server.of_type("log", job_id)
        for line in message["lines"]
    ]


async def test_output_that_cannot_be_encoded_is_escaped(
    server: FakeServer, start_worker: Start
) -> None:
    with capturing():
        start_worker(make_registry(worker_sample_tasks.registry))
        await server.wait_connected()
        await server.push_jobs(job("j1", "t.unencodable_output"))
        assert (await server.wait_message("result", "j1"))["result"] == "done"
    assert log_lines(server, "j1") == [
        ("stdout", f"printed {ESCAPED}"),
        ("log", f"WARNING user.code: logged {ESCAPED}"),
        ("log", f"job.log {ESCAPED}\\x00"),
    ]
    assert server.of_type("progress", "j1")[0]["message"] == f"progress {ESCAPED}"


async def test_the_output_of_an_isolated_task_is_captured(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.isolated_output"))
    assert (await server.wait_message("result", "j1"))["result"] == "done"
    assert log_lines(server, "j1") == [
        ("stdout", "printed in the child"),
        ("stderr", "to stderr"),
        ("log", "WARNING user.code: logged in the child"),
        ("log", "job.log in the child"),
        ("stdout", f"odd {ESCAPED}"),
    ]


def test_a_full_log_buffer_goes_out_in_messages_that_fit_a_frame() -> None:
    """1,000 lines of 8 KiB emoji (32 KiB of UTF-8 each) would make a 32 MB message."""
    buffer = LogBuffer()
    for number in range(MAX_BUFFERED_LINES):
        buffer.add(float(number), "stdout", "\U0001f600" * MAX_LOG_LINE_CHARS)
    sent: list[float] = []
    while buffer:
        lines = buffer.take()
        message = protocol.Log(job_id="j", token="t", lines=lines)
        assert len(protocol.encode(message)) <= protocol.MAX_FRAME_BYTES
        sent += [line.at for line in lines]
    assert sent == [float(number) for number in range(MAX_BUFFERED_LINES)]
