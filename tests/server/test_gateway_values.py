"""The server defends itself with the same definition of values: what a worker reports is
checked (a result) or escaped (text) before it is stored."""

from __future__ import annotations

import asyncio

from rota.server.frames import MAX_RESOURCES_BYTES
from tests.server.conftest import StartServer
from tests.server.test_gateway import fetch, submit


async def test_a_result_that_breaks_the_rules_fails_the_job_for_good(
    start_server: StartServer,
) -> None:
    server = await start_server()
    worker = await server.worker("w", capacity=2)
    first = await submit(server)
    second = await submit(server)
    [one, two] = await worker.receive_jobs(2)
    deep: object = 1
    for _ in range(70):
        deep = [deep]
    assert (await worker.finish(one, {"n": 2**60}))["ok"] is True
    assert (await worker.finish(two, deep))["ok"] is True
    failed = await fetch(server, first["id"])
    assert failed["state"] == "failed", failed
    assert failed["error"].startswith(
        "the task's result cannot be stored: result.n: integer 1152921504606846976 is outside"
    )
    assert (await fetch(server, second["id"]))["error"].startswith(
        "the task's result cannot be stored: result[0][0][0]"
    )


async def test_text_a_store_cannot_keep_is_escaped(start_server: StartServer) -> None:
    """NUL is valid UTF-8 but PostgreSQL's text refuses it: it arrives escaped."""
    server = await start_server()
    worker = await server.worker("w")
    job = await submit(server, max_attempts=1)
    [handed] = await worker.receive_jobs(1)
    lease = {"job_id": handed["job_id"], "token": handed["token"]}
    await worker.send({"type": "progress", **lease, "progress": 0.5, "message": "p\x00"})
    await worker.send(
        {"type": "log", **lease, "lines": [{"at": 1.0, "stream": "stdout", "message": "l\x00"}]}
    )
    await worker.send(
        {"type": "failure", **lease, "error": "e\x00", "traceback": "t\x00", "retryable": True}
    )
    assert (await worker.receive("ack"))["ok"] is True
    failed = await fetch(server, job["id"])
    assert (failed["error"], failed["traceback"]) == ("e\\x00", "t\\x00")
    events = (await server.http.get(f"/api/v1/jobs/{job['id']}/events")).json()["events"]
    assert "[stdout] l\\x00" in [event["message"] for event in events]


async def test_a_heartbeat_keeps_only_figures_of_the_types_they_are_read_as(
    start_server: StartServer,
) -> None:
    """Figures are read as numbers, a host name and a list of GPUs (by /system and the
    dashboard): one of another type is left out, and figures too large are not kept."""
    server = await start_server()
    worker = await server.worker("w")
    odd = {
        "host": ["not", "a", "name"],
        "cpu_percent": "high",
        "memory_percent": True,
        "memory_used_bytes": 1024,
        "disk_percent": None,
        "load_avg": 5,
        "gpus": 5,
        "extra": {"kept": 1},
    }
    await worker.send({"type": "heartbeat", "running": [], "state": "online", "resources": odd})
    async with asyncio.timeout(5):
        while True:
            [entry] = (await server.http.get("/api/v1/workers")).json()["workers"]
            if entry["resources"]:
                break
            await asyncio.sleep(0.05)
    assert entry["resources"] == {
        "memory_used_bytes": 1024,
        "disk_percent": None,
        "extra": {"kept": 1},
    }
    system = await server.http.get("/api/v1/system")
    assert system.status_code == 200, system.text

    gpus = [{"name": "g", "memory_used_bytes": "lots"}, 7, {"name": "h", "index": 1}]
    await worker.send(
        {"type": "heartbeat", "running": [], "state": "online", "resources": {"gpus": gpus}}
    )
    huge = {"host": "h" * (MAX_RESOURCES_BYTES + 1)}
    await worker.send({"type": "heartbeat", "running": [], "state": "online", "resources": huge})
    await worker.send({"type": "drain"})
    async with asyncio.timeout(5):
        while True:
            [entry] = (await server.http.get("/api/v1/workers")).json()["workers"]
            if entry["state"] == "draining":
                break
            await asyncio.sleep(0.05)
    # The GPUs' good figures are kept; the huge report leaves the last figures in place.
    assert entry["resources"] == {"gpus": [{"name": "g"}, {"name": "h", "index": 1}]}
    assert (await server.http.get("/api/v1/system")).status_code == 200
