"""Schedules on real processes: punctual, never twice, and as documented after downtime."""

from __future__ import annotations

import asyncio
import itertools
import math
import os
import subprocess
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import asyncpg
import pytest

from rota.store.sqlite import SqliteStore
from tests.e2e.conftest import EARLY_S, LATE_S, ROTA, Cluster, free_port, wait_for

SCHEDULES = "/api/v1/schedules"


def add(cluster: Cluster, **fields: Any) -> dict[str, Any]:
    response = cluster.request("POST", SCHEDULES, json=fields)
    assert response.status_code == 201, response.text
    return dict(response.json())


def fire_at(job: dict[str, Any]) -> datetime:
    """Return the nominal fire time of a schedule's job (its key is schedule:<id>:<time>)."""
    return datetime.fromisoformat(str(job["idempotency_key"]).split(":", 2)[2])


def schedule_jobs(cluster: Cluster, schedule_id: str) -> list[dict[str, Any]]:
    jobs, cursor = [], None
    while True:
        params: dict[str, Any] = {"limit": 500, **({"cursor": cursor} if cursor else {})}
        page = cluster.get("/api/v1/jobs", params=params)
        jobs += [job for job in page["jobs"] if job["schedule_id"] == schedule_id]
        cursor = page["next_cursor"]
        if not cursor:
            return sorted(jobs, key=fire_at)


def observe_every_second(cluster: Cluster, schedule_id: str, seconds: int) -> list[datetime]:
    """Watch [start, start + seconds) and check each occurrence ran once, not before its
    second and not left for a later round; return the nominal fire times seen."""
    start = datetime.fromtimestamp(math.ceil(time.time()) + 2, UTC)  # past the worker's warm-up
    end = start + timedelta(seconds=seconds)
    time.sleep(max(0.0, (end - datetime.now(UTC)).total_seconds()) + 1.0)
    cluster.request("POST", f"{SCHEDULES}/{schedule_id}/pause").raise_for_status()
    jobs = [job for job in schedule_jobs(cluster, schedule_id) if start <= fire_at(job) < end]
    lateness_s = []
    for job in jobs:
        done = cluster.wait_finished(job["id"])
        assert done["state"] == "succeeded", done
        lateness_s.append(done["result"] - fire_at(job).timestamp())
    times = [fire_at(job) for job in jobs]
    assert len(times) == len(set(times)), "an occurrence ran twice"
    assert min(lateness_s) > -EARLY_S, f"ran before its time: {min(lateness_s)}"
    assert max(lateness_s) < LATE_S, f"late by {max(lateness_s):.3f} s"
    return times


def test_every_second_for_30_s_fires_30_times_once_each_on_time(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1", concurrency=4)
    schedule = add(cluster, name="tick", task="e2e.started_at", cron="* * * * * *")
    times = observe_every_second(cluster, schedule["id"], 30)
    assert len(times) == 30, times


@pytest.fixture
def postgres_dsn() -> Iterator[str]:
    """A DSN naming a fresh schema of the test PostgreSQL, dropped afterwards."""
    base = os.environ.get("ROTA_TEST_POSTGRES_DSN", "").strip()
    if not base:
        pytest.skip("set ROTA_TEST_POSTGRES_DSN to run the several-servers test")
    schema = f"rota_e2e_{uuid.uuid4().hex[:12]}"
    yield f"{base}{'&' if '?' in base else '?'}schema={schema}"

    async def drop() -> None:
        conn = await asyncpg.connect(base)
        try:
            await conn.execute(f'DROP SCHEMA IF EXISTS "{schema}" CASCADE')
        finally:
            await conn.close()

    asyncio.run(drop())


def test_two_servers_on_one_database_fire_each_occurrence_once(
    cluster: Cluster, postgres_dsn: str
) -> None:
    cluster.dsn = postgres_dsn
    cluster.start_server()
    other = free_port()
    cluster.start_server(port=other)
    cluster.start_worker("w0", concurrency=4)
    cluster.start_worker("w1", concurrency=4, servers=[f"http://127.0.0.1:{other}"])
    schedule = add(cluster, name="tick", task="e2e.started_at", cron="* * * * * *")
    times = observe_every_second(cluster, schedule["id"], 30)
    start = times[0]
    assert times == [start + timedelta(seconds=n) for n in range(30)], "missing occurrences"


def _rewind(db: Path, names: list[str], next_fire_at: datetime) -> None:
    """Set the schedules' next fire time back, as if the server had been down since then."""

    async def rewind() -> None:
        store = SqliteStore(db)
        await store.open()
        try:
            for name in names:
                schedule = await store.get_schedule(name)
                await store.update_schedule(
                    schedule.id,
                    version=schedule.version,
                    spec=schedule.spec,
                    next_fire_at=next_fire_at,
                )
        finally:
            await store.close()

    asyncio.run(rewind())


def test_misfire_policies_after_five_minutes_down(cluster: Cluster) -> None:
    cluster.start_server()
    # Every minute on a grid that keeps clear of the restart: fire times at now - 330 s,
    # now - 270 s, ..., now - 30 s were missed; the next one is 30 s after now.
    anchor = datetime.now(UTC) - timedelta(seconds=330)
    created = {
        policy: add(
            cluster,
            name=f"every-minute-{policy}",
            task="rota.echo",
            interval=60,
            start_at=anchor.isoformat(),
            misfire=policy,
        )
        for policy in ("skip", "once", "all")
    }
    assert server_stopped(cluster)
    _rewind(cluster.db, [s["name"] for s in created.values()], anchor)
    cluster.start_server()
    missed = [anchor + timedelta(seconds=60 * n) for n in range(6)]
    expected = {"skip": [], "once": missed[-1:], "all": missed}
    for policy, schedule in created.items():
        wait_for(
            lambda s=schedule: cluster.get(f"{SCHEDULES}/{s['id']}")["version"] > 2,
            30,
            f"the {policy} schedule's first round",
        )
        jobs = schedule_jobs(cluster, schedule["id"])
        assert [fire_at(job) for job in jobs] == expected[policy], policy
        after = cluster.get(f"{SCHEDULES}/{schedule['id']}")
        assert datetime.fromisoformat(after["next_fire_at"]) == anchor + timedelta(seconds=360)


def server_stopped(cluster: Cluster) -> bool:
    assert cluster.server is not None
    cluster.kill(cluster.server, 15)
    return cluster.server.returncode is not None


def test_overlap_skip_never_runs_two_occurrences_at_once(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1", concurrency=4)
    schedule = add(cluster, name="slow", task="rota.sleep", args=[2.2], interval=1, overlap="skip")
    time.sleep(6.5)
    cluster.request("POST", f"{SCHEDULES}/slow/pause").raise_for_status()
    jobs = [cluster.wait_finished(job["id"]) for job in schedule_jobs(cluster, schedule["id"])]
    ran = sorted(
        (job for job in jobs if job["state"] == "succeeded"), key=lambda j: j["started_at"]
    )
    assert len(ran) >= 2
    for earlier, later in itertools.pairwise(ran):
        assert later["started_at"] >= earlier["finished_at"], "two occurrences overlapped"
    assert cluster.get(f"{SCHEDULES}/slow")["skipped_count"] >= 3


def rota(cluster: Cluster, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [ROTA, "--server", cluster.url, *args],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def test_cli_adds_lists_and_refuses_bad_schedules(cluster: Cluster) -> None:
    cluster.start_server()
    added = rota(
        cluster, "schedules", "add", "nightly", "--cron", "0 3 * * *",
        "--tz", "Europe/Berlin", "rota.echo", "hi",
    )  # fmt: skip
    assert added.returncode == 0, added.stderr
    listing = rota(cluster, "schedules", "ls")
    assert "nightly" in listing.stdout and "Europe/Berlin" in listing.stdout
    shown = rota(cluster, "schedules", "show", "nightly")
    assert shown.returncode == 0, shown.stderr
    upcoming = shown.stdout.split("next fire times (Europe/Berlin, and UTC):")[1].split()
    # Each fire time in the schedule's zone (03:00 in Berlin) and in UTC.
    assert len([word for word in upcoming if word.endswith(":00:00+00:00")]) == 10, shown.stdout
    assert len([word for word in upcoming if word.endswith("T03:00:00+01:00")]) == 10, shown.stdout
    for args, code, words in [
        (("--cron", "61 * * * *"), 1, "cron field 1 (minute) value 61 is out of range"),
        (("--cron", "0 3 * *"), 1, "must have 5 fields"),
        (("--cron", "@daily", "--tz", "Mars/Olympus"), 1, "unknown time zone 'Mars/Olympus'"),
        (("--cron", "@daily", "--every", "10m"), 2, "exactly one of --cron and --every"),
        ((), 2, "exactly one of --cron and --every"),
    ]:
        done = rota(cluster, "schedules", "add", "bad", *args, "rota.echo")
        assert done.returncode == code, (args, done.stderr)
        assert done.stderr.startswith("rota: error:") and words in done.stderr, done.stderr
        assert "Traceback" not in done.stderr
    for command in ("pause", "resume", "trigger", "rm"):
        assert rota(cluster, "schedules", command, "nightly").returncode == 0, command
    assert rota(cluster, "schedules", "show", "nightly").returncode == 1


def test_periodic_declarations_are_registered_by_workers_idempotently(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("w1")
    first = wait_for(lambda: _schedule_named(cluster, "e2e-hourly"), 15, "the declared schedule")
    assert first["task"] == "e2e_tasks.hourly" and first["interval_s"] == 3600
    assert first["paused"] is True
    cluster.kill(cluster.workers["w1"])
    cluster.start_worker("w2")
    time.sleep(1.0)  # w2 has registered its declarations by now, or is about to
    schedules = cluster.get(SCHEDULES)["schedules"]
    assert [s["name"] for s in schedules] == ["e2e-hourly"]
    assert schedules[0]["version"] == first["version"] and schedules[0]["id"] == first["id"]


def _schedule_named(cluster: Cluster, name: str) -> dict[str, Any] | None:
    for schedule in cluster.get(SCHEDULES)["schedules"]:
        if schedule["name"] == name:
            return dict(schedule)
    return None
