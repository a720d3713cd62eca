"""The worker against a fake server over a real WebSocket: hello, jobs, outcomes, leases."""

from __future__ import annotations

import asyncio
from collections.abc import Callable

import worker_sample_tasks
from worker_fake_server import FakeServer, WorkerRun, job, make_registry

from rota import protocol

Start = Callable[..., WorkerRun]


async def test_hello_announces_the_worker(server: FakeServer, start_worker: Start) -> None:
    start_worker(
        make_registry(worker_sample_tasks.registry),
        queues=["default", "mail"],
        tags=["gpu"],
        concurrency=3,
    )
    hello = await server.wait_connected()
    assert hello["version"] == protocol.PROTOCOL_VERSION
    assert hello["name"] == "w1"
    assert hello["queues"] == ["default", "mail"]
    assert hello["tags"] == ["gpu"]
    assert hello["capacity"] == 3
    assert hello["running"] == []
    assert "rota.echo" in hello["tasks"] and "t.add" in hello["tasks"]
    assert hello["tasks"] == sorted(hello["tasks"])


async def test_default_name_is_host_and_pid(server: FakeServer, start_worker: Start) -> None:
    import os
    import socket

    start_worker(name=None)
    hello = await server.wait_connected()
    assert hello["name"] == f"{socket.gethostname()}-{os.getpid()}"


async def test_runs_async_and_sync_tasks(server: FakeServer, start_worker: Start) -> None:
    run = start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.add", 2, 3), job("j2", "t.async_add", a=4, b=5))
    assert (await server.wait_message("result", "j1"))["result"] == 5
    result = await server.wait_message("result", "j2")
    assert result == {
        "type": "result",
        "job_id": "j2",
        "token": "token-j2",
        "result_json": "9",
        "result": 9,
    }
    assert any("connected to" in line for line in run.lines)


async def test_exception_becomes_retryable_failure_with_traceback(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.boom", "bad thing"))
    failure = await server.wait_message("failure", "j1")
    assert failure["error"] == "ValueError: bad thing"
    assert failure["retryable"] is True
    assert "Traceback" in failure["traceback"] and "def boom" not in failure["error"]
    assert "raise ValueError(message)" in failure["traceback"]


async def test_unknown_task_bad_arguments_and_bad_results_are_not_retryable(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.nope"), job("j2", "t.add", 1))
    unknown = await server.wait_message("failure", "j1")
    assert unknown["error"] == "worker w1 has no task 't.nope'"
    assert unknown["retryable"] is False
    bad_args = await server.wait_message("failure", "j2")
    assert bad_args["retryable"] is False and "TypeError" in bad_args["error"]
    assert "'b'" in bad_args["error"]
    await server.push_jobs(job("j3", "t.not_json"))
    not_json = await server.wait_message("failure", "j3")
    assert not_json["error"].startswith(
        "the task's result cannot be sent: result: a value of type object is not JSON"
    )
    assert not_json["retryable"] is False


async def test_progress_and_log_lines_are_sent(server: FakeServer, start_worker: Start) -> None:
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.chatty"))
    await server.wait_message("result", "j1")
    progress = server.of_type("progress", "j1")
    assert progress[0]["progress"] == 0.25 and progress[0]["message"] == "a quarter"
    lines = [line for m in server.of_type("log", "j1") for line in m["lines"]]
    assert [(line["stream"], line["message"]) for line in lines] == [
        ("log", "first line"),
        ("stderr", "second line"),
    ]
    assert all(isinstance(line["at"], float) for line in lines)
    # Log lines of a job come before its result.
    kinds = [m["type"] for m in server.received if m.get("job_id") == "j1"]
    assert kinds.index("result") > max(i for i, k in enumerate(kinds) if k == "log")


async def test_a_flood_of_progress_reports_is_sent_as_the_latest_one(
    server: FakeServer, start_worker: Start
) -> None:
    # Each report used to be a message: 300,000 reports in a few seconds queued ahead of the
    # heartbeats and the result, the lease expired, and the job ran again.
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.progress_flood", 50_000))
    await server.wait_message("result", "j1")
    progress = server.of_type("progress", "j1")
    assert 1 <= len(progress) < 1000
    # The last report is never lost, and comes before the result.
    assert (progress[-1]["progress"], progress[-1]["message"]) == (1.0, "all done")
    kinds = [m["type"] for m in server.received if m.get("job_id") == "j1"]
    assert kinds.index("result") > max(i for i, k in enumerate(kinds) if k == "progress")


async def test_capacity_is_respected(server: FakeServer, start_worker: Start) -> None:
    run = start_worker(make_registry(worker_sample_tasks.registry), concurrency=1)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 0.3), job("j2", "t.add", 1, 2))
    release = await server.wait_message("release", "j2")
    assert release == {"type": "release", "job_id": "j2", "token": "token-j2"}
    assert run.worker.running == ["j1"]
    await server.wait_message("result", "j1")
    assert not server.of_type("result", "j2")


async def test_heartbeats_carry_leases_and_resources(
    server: FakeServer, start_worker: Start
) -> None:
    server.heartbeat_s = 0.05
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 2))
    beat = await server.wait_for(
        lambda: [m for m in server.of_type("heartbeat") if m["running"]], what="busy heartbeat"
    )
    assert beat[0]["running"] == [{"job_id": "j1", "token": "token-j1"}]
    assert beat[0]["state"] == "online"
    resources = beat[0]["resources"]
    assert 0 <= resources["memory_percent"] <= 100
    assert resources["memory_total_bytes"] >= resources["memory_used_bytes"] > 0
    assert 0 <= resources["cpu_percent"]
    assert resources["gpus"] == [] or isinstance(resources["gpus"][0], dict)
    assert {"disk_percent", "load_avg"} <= resources.keys()


async def test_heartbeats_carry_the_worker_process_own_figures(
    server: FakeServer, start_worker: Start
) -> None:
    """A worker running a CPU-busy isolated task reports its own CPU share (child included)
    and resident memory beside the host's, which are different figures."""
    server.heartbeat_s = 0.2
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.isolated_spin", 60))

    def busy() -> list[dict[str, object]]:
        return [
            m
            for m in server.of_type("heartbeat")
            if m["running"] and (m["resources"].get("process_cpu_percent") or 0) > 0
        ]

    beats = await server.wait_for(busy, what="heartbeat with the busy task's CPU", timeout_s=60)
    resources = beats[0]["resources"]
    assert 0 < resources["process_cpu_percent"] <= 100
    assert 0 < resources["process_rss_bytes"] < resources["memory_used_bytes"]
    assert resources["process_rss_bytes"] != resources["memory_used_bytes"]


async def test_cancel_stops_an_async_job(server: FakeServer, start_worker: Start) -> None:
    run = start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 30))
    await server.wait_for(lambda: run.worker.running == ["j1"])
    await server.send({"type": "cancel", "job_id": "j1", "reason": "user"})
    await server.wait_for(lambda: run.worker.running == [], what="cancelled job gone")
    await asyncio.sleep(0.1)
    # Once its code stopped, the lease is released; no outcome is reported.
    assert [m for m in server.received if m.get("job_id") == "j1"] == [
        {"type": "release", "job_id": "j1", "token": "token-j1"}
    ]


async def test_cancel_sets_the_flag_a_sync_job_checks(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(make_registry(worker_sample_tasks.registry), concurrency=1)
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.cooperative", 30))
    await server.wait_message("log", "j1")  # it runs
    await server.send({"type": "cancel", "job_id": "j1", "reason": "user"})
    await server.wait_for(lambda: run.worker.running == [])
    # The single thread is free again only if the task saw the flag and returned.
    await server.push_jobs(job("j2", "t.add", 1, 1))
    assert (await server.wait_message("result", "j2"))["result"] == 2
    assert not server.of_type("result", "j1") and not server.of_type("failure", "j1")


async def test_outbox_resends_after_reconnect_and_hello_represents_leases(
    server: FakeServer, start_worker: Start
) -> None:
    server.auto_ack = False
    start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.add", 1, 2), job("j2", "t.slow_async", 0.6))
    await server.wait_message("result", "j1")
    await server.drop()  # before acking j1's result
    hello = await server.wait_connected(2)
    assert hello["running"] == [{"job_id": "j2", "token": "token-j2"}]
    # j1's result is sent again on the new connection, j2 finishes and is reported too.
    await server.wait_for(lambda: len(server.of_type("result", "j1")) == 2, what="resend")
    await server.wait_message("result", "j2")
    server.auto_ack = True
    await server.send({"type": "ack", "job_id": "j1", "ok": True})
    await server.send({"type": "ack", "job_id": "j2", "ok": False, "error": "stale"})
    await server.drop()
    hello = await server.wait_connected(3)
    assert hello["running"] == []
    await asyncio.sleep(0.2)
    assert len(server.of_type("result", "j1")) == 2  # acked: never sent again
    assert len(server.of_type("result", "j2")) == 1


async def test_stale_lease_in_welcome_cancels_the_job(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 0.5), job("j2", "t.slow_async", 0.5))
    await server.wait_for(lambda: len(run.worker.running) == 2)
    server.stale = {"j1"}
    await server.drop()
    hello = await server.wait_connected(2)
    assert {lease["job_id"] for lease in hello["running"]} == {"j1", "j2"}
    await server.wait_message("result", "j2")
    await asyncio.sleep(0.1)
    assert not server.of_type("result", "j1")


async def test_stale_lease_in_leases_cancels_the_job(
    server: FakeServer, start_worker: Start
) -> None:
    run = start_worker(make_registry(worker_sample_tasks.registry))
    await server.wait_connected()
    await server.push_jobs(job("j1", "t.slow_async", 0.5))
    await server.wait_for(lambda: run.worker.running == ["j1"])
    await server.send({"type": "leases", "stale": ["j1"]})
    await server.wait_for(lambda: run.worker.running == [])
    await asyncio.sleep(0.6)
    assert not server.of_type("result", "j1")


async def test_fails_over_to_the_second_server(server: FakeServer, start_worker: Start) -> None:
    refusing = FakeServer()  # never started: its port refuses connections
    run = start_worker(server=[refusing.url, server.url])
    await server.wait_connected()
    assert any(f"cannot connect to ws://127.0.0.1:{refusing.port}" in x for x in run.lines)
    connected = f"connected to ws://127.0.0.1:{server.port}"
    await server.wait_for(lambda: any(connected in line for line in run.lines))
    assert all("Traceback" not in line and "\n" not in line for line in run.lines)


async def test_reconnects_after_the_server_restarts(
    server: FakeServer, start_worker: Start
) -> None:
    start_worker()
    await server.wait_connected()
    await server.stop()
    await asyncio.sleep(0.3)  # a few refused attempts, backing off
    await server.start()
    await server.wait_connected(2)
