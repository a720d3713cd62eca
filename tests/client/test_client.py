"""AsyncClient and Client against a real server with a real SQLite store."""

from __future__ import annotations

import asyncio
import threading
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest

from rota import AsyncClient, Client, JobState
from rota.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    JobNotFound,
    RotaError,
    ServerUnavailable,
    TimeoutExpired,
    UnknownTask,
)
from rota.jobs import Lease
from rota.server.app import create_app
from rota.settings import load_settings
from rota.store.base import AcquireRequest
from rota.store.factory import open_store
from tests.client.live import LiveServer, free_port

MISSING_ID = "0190f5c2-0000-7000-8000-000000000000"


async def test_submit_get_and_list(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        job = await client.submit(
            "rota.echo", [1, "two"], {"three": 3}, queue="q1", priority=5, delay=60
        )
        assert job["state"] == "pending"
        assert (job["task"], job["args"], job["kwargs"]) == ("rota.echo", [1, "two"], {"three": 3})
        assert (job["queue"], job["priority"]) == ("q1", 5)
        run_at = datetime.fromisoformat(job["run_at"])
        assert run_at - datetime.fromisoformat(job["created_at"]) >= timedelta(seconds=59)

        fetched = await client.get_job(job["id"])
        assert fetched["id"] == job["id"]

        other = await client.submit("rota.sha256", ["x"], delay=timedelta(minutes=1))
        page = await client.list_jobs()
        assert [j["id"] for j in page["jobs"]] == [other["id"], job["id"]]  # newest first
        page = await client.list_jobs(queue="q1")
        assert [j["id"] for j in page["jobs"]] == [job["id"]]
        first = await client.list_jobs(limit=1)
        assert first["next_cursor"] is not None
        rest = await client.list_jobs(limit=1, cursor=first["next_cursor"])
        assert [j["id"] for j in rest["jobs"]] == [job["id"]]
        assert (await client.list_jobs(state=JobState.RUNNING))["jobs"] == []


async def test_run_at_and_deadline_are_sent_as_iso_times(live_server: LiveServer) -> None:
    run_at = datetime.now(UTC) + timedelta(hours=1)
    async with AsyncClient(live_server.url) as client:
        job = await client.submit(
            "rota.echo", run_at=run_at, deadline=run_at + timedelta(hours=1), max_attempts=7
        )
        assert datetime.fromisoformat(job["run_at"]) == run_at
        assert datetime.fromisoformat(job["deadline_at"]) == run_at + timedelta(hours=1)
        assert job["max_attempts"] == 7
        with pytest.raises(InvalidInput, match="run_at: must be a time with a UTC offset"):
            await client.submit("rota.echo", run_at=datetime(2030, 1, 1))


async def test_idempotency_key_returns_the_first_job(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        first = await client.submit("rota.echo", [1], idempotency_key="once", delay=60)
        second = await client.submit("rota.echo", [1], idempotency_key="once", delay=60)
        assert second["id"] == first["id"]
        with pytest.raises(IdempotencyConflict, match=first["id"]):
            await client.submit("rota.echo", [2], idempotency_key="once")
        found = await client.list_jobs(q="once")
        assert [j["id"] for j in found["jobs"]] == [first["id"]]


async def test_submit_many_update_cancel_retry_and_events(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        jobs = await client.submit_many(
            [{"task": "rota.echo", "args": [n], "delay": 60} for n in range(3)]
        )
        assert [job["args"] for job in jobs] == [[0], [1], [2]]
        job_id = jobs[0]["id"]

        updated = await client.update(job_id, priority=9, args=["new"])
        assert (updated["priority"], updated["args"]) == (9, ["new"])

        cancelled = await client.cancel(job_id)
        assert cancelled["state"] == "cancelled"
        with pytest.raises(InvalidTransition):
            await client.cancel(job_id)
        with pytest.raises(InvalidTransition):
            await client.update(job_id, priority=1)

        retried = await client.retry(job_id)
        assert retried["state"] == "pending"

        kinds = [event["kind"] for event in await client.events(job_id)]
        assert kinds[0] == "submitted"
        assert "cancelled" in kinds and "retried" in kinds
        events = await client.events(job_id)
        later = await client.events(job_id, after=events[0]["id"])
        assert later == events[1:]


async def test_submit_many_minimal_answers_ids_and_states(live_server: LiveServer) -> None:
    items = [{"task": "rota.echo", "args": [n], "delay": 60} for n in range(3)]
    async with AsyncClient(live_server.url) as client:
        made = await client.submit_many(items, minimal=True)
        assert made == [{"id": job["id"], "state": "pending"} for job in made]
        assert [(await client.get_job(job["id"]))["args"] for job in made] == [[0], [1], [2]]
    with Client(live_server.url) as sync_client:  # plain http.client connections
        made = sync_client.submit_many(items, minimal=True)
        assert [set(job) for job in made] == [{"id", "state"}] * 3
        assert [sync_client.get_job(job["id"])["args"] for job in made] == [[0], [1], [2]]
        whole = sync_client.submit_many(items)
        assert [job["args"] for job in whole] == [[0], [1], [2]]


def test_submit_many_minimal_through_httpx(live_server: LiveServer) -> None:
    transport = httpx.HTTPTransport()  # a given transport: the sync client keeps httpx
    with Client(live_server.url, transport=transport) as client:
        made = client.submit_many([{"task": "rota.echo"}] * 2, minimal=True)
    assert [set(job) for job in made] == [{"id", "state"}] * 2


async def test_errors_become_the_named_rota_errors(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        with pytest.raises(JobNotFound):
            await client.get_job(MISSING_ID)
        with pytest.raises(UnknownTask, match=r"no\.such\.task"):
            await client.submit("no.such.task")
        with pytest.raises(InvalidInput, match="max_attempts"):
            await client.submit("rota.echo", max_attempts=0)
        with pytest.raises(InvalidInput):
            await client.submit("rota.echo", delay=5, run_at=datetime.now(UTC))
        with pytest.raises(RotaError):
            await client.drain("nobody")


async def test_wait_returns_the_finished_job_or_times_out(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        job = await client.submit("rota.echo", ["hi"])
        with pytest.raises(TimeoutExpired, match=job["id"]):
            await client.wait(job["id"], timeout_s=0.2, poll_s=0.1)

        lease = await _finish(live_server, job["id"], result="done")
        assert lease is not None
        finished = await client.wait(job["id"], timeout_s=5)
        assert (finished["state"], finished["result"]) == ("succeeded", "done")


async def test_wait_wakes_up_when_the_job_finishes(live_server: LiveServer) -> None:
    updates: list[str] = []
    async with AsyncClient(live_server.url) as client:
        job = await client.submit("rota.echo", ["hi"])
        waiting = asyncio.create_task(
            client.wait(job["id"], timeout_s=10, on_update=lambda j: updates.append(j["state"]))
        )
        await asyncio.sleep(0.1)
        assert not waiting.done()
        await _finish(live_server, job["id"], result=42)
        finished = await asyncio.wait_for(waiting, 5)
        assert finished["result"] == 42
        assert updates[-1] == "succeeded"


async def test_workers_queues_tasks_and_health(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        await client.submit("rota.echo", queue="mail", delay=60)
        assert await client.health() == {"status": "ok"}
        assert await client.workers() == []
        queues = {q["queue"]: q for q in await client.queues()}
        assert queues["mail"]["pending"] == 1
        assert "rota.sha256" in await client.tasks()


async def test_an_unreachable_server_is_server_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    async with AsyncClient(url) as client:
        with pytest.raises(ServerUnavailable, match=f"cannot reach the Rota server at {url}"):
            await client.health()


def test_sync_client_from_plain_code(live_server: LiveServer) -> None:
    with Client(live_server.url) as client:
        job = client.submit("rota.echo", ["sync"], delay=60)
        assert client.get_job(job["id"])["args"] == ["sync"]
        assert client.cancel(job["id"])["state"] == "cancelled"
        with pytest.raises(JobNotFound):
            client.get_job(MISSING_ID)
        assert client.health()["status"] == "ok"
    assert not client_threads(), "the sync client runs no thread and no event loop of its own"


async def test_sync_client_from_inside_a_running_event_loop(live_server: LiveServer) -> None:
    # Blocking this loop is the caller's choice; the client must still work.
    with Client(live_server.url) as client:
        job = client.submit("rota.echo", ["from a loop"], delay=60)
        assert client.list_jobs()["jobs"][0]["id"] == job["id"]


def test_sync_client_from_several_threads(live_server: LiveServer) -> None:
    ids: list[str] = []
    with Client(live_server.url) as client:

        def submit() -> None:
            ids.append(client.submit("rota.echo", delay=60)["id"])

        threads = [threading.Thread(target=submit) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
        assert len(set(ids)) == 8
        assert len(client.list_jobs()["jobs"]) == 8


def test_sync_client_keeps_the_signatures() -> None:
    assert Client.submit.__doc__ == AsyncClient.submit.__doc__
    assert Client.wait.__name__ == "wait"


def client_threads() -> list[threading.Thread]:
    return [t for t in threading.enumerate() if t.name == "rota-client" and t.is_alive()]


def test_sync_client_sends_from_the_callers_thread_without_an_event_loop() -> None:
    seen: list[tuple[str, bool]] = []

    def answer(request: httpx.Request) -> httpx.Response:
        try:
            asyncio.get_running_loop()
            in_loop = True
        except RuntimeError:
            in_loop = False
        seen.append((threading.current_thread().name, in_loop))
        return httpx.Response(200, json={"status": "ok"})

    with Client("http://rota.test", transport=httpx.MockTransport(answer)) as client:
        assert client.health() == {"status": "ok"}
        assert client.health() == {"status": "ok"}
        assert not client_threads()
    assert seen == [(threading.current_thread().name, False)] * 2


async def _finish(live: LiveServer, job_id: str, *, result: object) -> Lease:
    """Claim the job as a pretend worker and complete it, on the server's loop."""
    return await asyncio.wrap_future(
        asyncio.run_coroutine_threadsafe(_claim_and_complete(live, job_id, result), live.loop)
    )


async def _claim_and_complete(live: LiveServer, job_id: str, result: object) -> Lease:
    claimed = await live.store.acquire(AcquireRequest(worker="pretend", queues=["default"]))
    assert [job.id for job in claimed] == [job_id]
    token = claimed[0].lease_token
    assert token is not None
    lease = Lease(job_id=job_id, token=token)
    await live.store.complete(lease, result)
    return lease


async def test_async_client_over_an_in_process_app(tmp_path: Path) -> None:
    store = open_store(str(tmp_path / "rota.db"))
    await store.open()
    try:
        app = create_app(load_settings({"anonymous": True}, environ={}), store)
        async with app.router.lifespan_context(app):
            transport = httpx.ASGITransport(app=app)
            async with AsyncClient("http://rota.test", transport=transport) as client:
                job = await client.submit("rota.echo", ["in process"], delay=60)
                assert (await client.get_job(job["id"]))["args"] == ["in process"]
                with pytest.raises(JobNotFound):
                    await client.cancel(MISSING_ID)
    finally:
        await store.close()
