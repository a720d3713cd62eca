"""Handing jobs to a worker in frames that fit: big batches are split, and a job that cannot
be sent fails alone, with a clear error, while the rest of its batch runs."""

from __future__ import annotations

from datetime import UTC, datetime

import msgpack

from rota.ids import new_job_id
from rota.jobs import Job, JobSpec, JobState
from rota.protocol import FROM_SERVER_SIDE, MAX_FRAME_BYTES, Jobs, decode
from rota.retry import DEFAULT_BACKOFF
from rota.server.handout import pack_jobs
from rota.store.base import Store
from tests.server.conftest import StartServer
from tests.server.test_gateway import JOBS, fetch

MB = 1_000_000


def running_job(args: list[object], number: int = 0) -> Job:
    now = datetime.now(UTC)
    return Job(
        id=new_job_id(),
        task="rota.echo",
        args=args,
        kwargs={},
        queue="default",
        priority=0,
        state=JobState.RUNNING,
        run_at=now,
        target=None,
        max_attempts=3,
        backoff=DEFAULT_BACKOFF,
        timeout_s=None,
        deadline_at=None,
        idempotency_key=None,
        schedule_id=None,
        attempt=1,
        lease_token=f"token-{number}",
        lease_expires_at=now,
        worker="w",
        created_at=now,
        updated_at=now,
    )


def test_frames_stay_within_the_limit_and_keep_the_order() -> None:
    jobs = [running_job(["x" * 300], number) for number in range(10)]
    handout = pack_jobs(jobs, max_frame_bytes=1000)
    assert handout.refused == []
    assert len(handout.frames) > 1
    carried = []
    for frame, batch in handout.frames:
        assert len(frame) <= 1000
        message = decode(frame, FROM_SERVER_SIDE)
        assert isinstance(message, Jobs)
        assert [item.job_id for item in message.jobs] == [job.id for job in batch]
        carried += batch
    assert carried == jobs


def test_a_job_that_cannot_travel_is_set_apart_with_the_reason() -> None:
    good = running_job(["fine"], 1)
    unencodable = running_job(["a\ud800b"], 2)
    huge_int = running_job([2**64], 3)
    too_big = running_job(["y" * 2000], 4)
    handout = pack_jobs([good, unencodable, huge_int, too_big], max_frame_bytes=1000)
    assert [batch for _, batch in handout.frames] == [[good]]
    reasons = {job.id: reason for job, reason in handout.refused}
    assert reasons[unencodable.id] == (
        "the job cannot be sent to a worker: "
        "args[0]: string contains a lone surrogate (\\ud800) at index 1"
    )
    assert "args[0]: integer 18446744073709551616 is outside" in reasons[huge_int.id]
    assert "over the frame limit" in reasons[too_big.id]
    for reason in reasons.values():
        reason.encode("utf-8")  # storable as the job's error


async def test_a_batch_over_the_frame_limit_is_split(start_server: StartServer) -> None:
    """20 jobs of about 1 MB each, due together for 20 free slots: one frame would be some
    20 MB, over the 16 MiB limit; they arrive in several frames, all of them."""
    server = await start_server()
    submitted = []
    for _ in range(20):  # before any worker is there: all of them are due together
        response = await server.http.post(JOBS, json={"task": "rota.echo", "args": ["x" * MB]})
        assert response.status_code == 201, response.text
        submitted.append(response.json()["id"])
    worker = server.fake("big", capacity=20)
    await worker.connect()
    frames = 0
    jobs: list[dict[str, object]] = []
    while len(jobs) < 20:
        frame = await worker.socket.recv()
        assert isinstance(frame, bytes) and len(frame) <= MAX_FRAME_BYTES
        message = msgpack.unpackb(frame)
        assert message["type"] == "jobs"
        jobs += message["jobs"]
        frames += 1
    assert frames >= 2
    assert sorted(job["job_id"] for job in jobs) == sorted(submitted)
    for job in jobs:
        await worker.finish(job, "done")


async def test_a_job_that_cannot_be_sent_fails_alone(
    start_server: StartServer, store: Store
) -> None:
    """A job stored with a lone surrogate (by an older version) is handed out in the same
    round as two good ones: it fails at once, for good, naming the problem; the good ones
    reach the worker and nobody waits for a lease to expire."""
    server = await start_server()
    [first, bad, last] = await store.submit(
        [
            JobSpec(task="rota.echo", args=["one"]),
            JobSpec(task="rota.echo", args=["a\ud800b"]),
            JobSpec(task="rota.echo", args=["three"]),
        ]
    )
    worker = await server.worker("w", capacity=3)
    received = await worker.receive_jobs(2)
    assert [job["args"] for job in received] == [["one"], ["three"]]
    outcome = (await server.http.get(f"{JOBS}/{bad.id}/result", params={"wait": 5})).json()
    assert outcome["state"] == "failed"
    assert outcome["error"] == (
        "the job cannot be sent to a worker: "
        "args[0]: string contains a lone surrogate (\\ud800) at index 1"
    )
    for job in received:
        ack = await worker.finish(job, job["args"][0])
        assert ack["ok"] is True
    assert (await fetch(server, first.id))["result"] == "one"
    assert (await fetch(server, last.id))["state"] == "succeeded"
    # The failed job left its slot free: the next job goes out at once.
    response = await server.http.post(JOBS, json={"task": "rota.echo", "args": ["next"]})
    assert response.status_code == 201
    assert [job["args"] for job in await worker.receive_jobs(1)] == [["next"]]
