"""The device against a fake server that speaks the protocol: what it announces, how it
holds, rings and reports, and what a cancel, an edit, a lost lease or a restart do."""

from __future__ import annotations

import asyncio
import contextlib
import time
from collections.abc import AsyncIterator, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from rota.device.holdings import Held, Holdings
from rota.device.main import run_device
from rota.device.ring import Ringer, RingOptions
from rota.device.runtime import CAPACITY, Device
from rota.device.sound import Sound
from rota.reminders.model import Rung
from rota.settings import settings_of
from rota.types import Payload
from tests.worker.worker_fake_server import FakeServer

StartDevice = Callable[..., Device]


@pytest.fixture
async def server() -> AsyncIterator[FakeServer]:
    fake = FakeServer()
    await fake.start()
    yield fake
    await fake.stop()


@pytest.fixture
async def start_device(server: FakeServer, tmp_path: Path) -> AsyncIterator[StartDevice]:
    running: list[tuple[Device, asyncio.Task[bool]]] = []

    def start(**overrides: Any) -> Device:
        fields = {"server": [server.url], "name": "laptop", "tags": "hall"} | overrides
        settings = settings_of(fields)
        sound = Sound(player=None, notifier=None, speaker=None)
        options = RingOptions(audio_out=tmp_path / "audio")
        ringer = Ringer("laptop", options, sound, report=lambda line: None)
        holdings = Holdings(tmp_path / "laptop.json")
        device = Device(settings, holdings=holdings, ringer=ringer, report=lambda line: None)
        running.append((device, asyncio.create_task(device.run())))
        return device

    yield start
    for device, task in running:
        device.request_stop()
        with contextlib.suppress(Exception):
            async with asyncio.timeout(5):
                await task


def reminder(job_id: str, due_at: datetime, token: str = "t1", text: str = "Stand-up") -> Payload:
    return {
        "job_id": job_id,
        "token": token,
        "task": "rota.remind",
        "args": [],
        "kwargs": {"text": text},
        "attempt": 1,
        "max_attempts": 3,
        "timeout_s": None,
        "queue": "reminders",
        "run_at": due_at.timestamp(),
    }


def soon(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def wavs(tmp_path: Path, job_id: str) -> list[Path]:
    return sorted((tmp_path / "audio").glob(f"*-{job_id}.wav"))


def held(tmp_path: Path) -> list[str]:
    holdings = Holdings(tmp_path / "laptop.json")
    holdings.load()
    return [item.job_id for item in holdings.held()]


async def test_the_hello_names_a_device_with_a_horizon(
    server: FakeServer, start_device: StartDevice
) -> None:
    start_device(horizon_s=900)
    hello = await server.wait_connected()
    assert hello["name"] == "laptop"
    assert hello["tags"] == ["device", "device:laptop", "hall"]
    assert hello["queues"] == ["reminders"] and hello["tasks"] == ["rota.remind"]
    assert hello["capacity"] == CAPACITY and hello["horizon_s"] == 900


async def test_a_reminder_is_held_then_rung_at_its_moment_and_reported(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    start_device()
    await server.wait_connected()
    due_at = soon(0.5)
    await server.push_jobs(reminder("r1", due_at))
    await server.wait_for(lambda: held(tmp_path) == ["r1"], what="the reminder held")
    result = (await server.wait_message("result", "r1"))["result"]
    [path] = wavs(tmp_path, "r1")
    assert datetime.fromisoformat(result["due_at"]) == due_at
    assert datetime.fromisoformat(result["rung_at"]) >= due_at
    assert result["via"] == [f"wav:{path}"] and result["device"] == "laptop"
    assert held(tmp_path) == []


async def test_a_re_delivered_occurrence_is_answered_from_the_file_without_ringing(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    start_device()
    await server.wait_connected()
    due_at = soon(0.2)
    await server.push_jobs(reminder("r1", due_at, token="t1"))
    first = await server.wait_message("result", "r1")
    await server.push_jobs(reminder("r1", due_at, token="t2"))
    await server.wait_for(lambda: len(server.of_type("result", "r1")) == 2, what="2nd result")
    second = server.of_type("result", "r1")[1]
    assert second["token"] == "t2" and second["result"] == first["result"]
    assert len(wavs(tmp_path, "r1")) == 1


async def test_a_cancel_drops_the_held_reminder_and_it_never_rings(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    start_device()
    await server.wait_connected()
    await server.push_jobs(reminder("gone", soon(0.6)), reminder("kept", soon(0.7)))
    await server.wait_for(lambda: len(held(tmp_path)) == 2, what="both held")
    await server.send({"type": "cancel", "job_id": "gone", "reason": "cancelled"})
    release = await server.wait_message("release", "gone")
    assert release["token"] == "t1"
    await server.wait_for(lambda: held(tmp_path) == ["kept"], what="the cancelled one dropped")
    await server.wait_message("result", "kept")
    assert wavs(tmp_path, "gone") == []


async def test_an_edit_replaces_the_held_occurrence(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    start_device()
    await server.wait_connected()
    await server.push_jobs(reminder("r1", soon(0.4), token="t1", text="at first"))
    await server.wait_for(lambda: held(tmp_path) == ["r1"], what="held")
    moved_to = soon(0.8)
    await server.push_jobs(reminder("r1", moved_to, token="t2", text="moved"))
    result = await server.wait_message("result", "r1")
    assert result["token"] == "t2"
    assert datetime.fromisoformat(result["result"]["due_at"]) == moved_to
    await asyncio.sleep(0.2)
    assert len(wavs(tmp_path, "r1")) == 1 and len(server.of_type("result", "r1")) == 1


async def test_a_lease_the_server_took_back_is_dropped_and_never_rings(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    start_device()
    await server.wait_connected()
    # Due a few seconds out, so that a loaded machine cannot ring r1 before it is taken back.
    await server.push_jobs(reminder("r1", soon(3.0)), reminder("r2", soon(3.1)))
    await server.wait_for(lambda: len(held(tmp_path)) == 2, what="held")
    await server.send({"type": "leases", "stale": ["r1"]})
    await server.wait_for(lambda: held(tmp_path) == ["r2"], what="r1 dropped")
    await server.wait_message("result", "r2")
    assert wavs(tmp_path, "r1") == [] and server.of_type("release", "r1") == []


async def test_a_restarted_device_rings_its_file_with_no_server(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    first = start_device()
    await server.wait_connected()
    due_at = soon(1.0)
    await server.push_jobs(reminder("r1", due_at))
    await server.wait_for(lambda: held(tmp_path) == ["r1"], what="held")
    await server.stop()
    first.request_stop()  # gone with the server away: nothing is given back
    await asyncio.sleep(0.1)
    start_device()
    await server.wait_for(lambda: wavs(tmp_path, "r1"), timeout_s=5, what="the ring")
    assert time.time() >= due_at.timestamp()
    assert len(wavs(tmp_path, "r1")) == 1


async def test_a_drained_device_gives_its_reminders_back_and_forgets_them(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    device = start_device()
    await server.wait_connected()
    await server.push_jobs(reminder("r1", soon(60)))
    await server.wait_for(lambda: held(tmp_path) == ["r1"], what="held")
    device.request_drain()
    await server.wait_message("release", "r1")
    await server.wait_for(lambda: held(tmp_path) == [], what="the released one dropped")


@pytest.mark.timeout(30)
def test_a_device_that_cannot_write_its_file_stops_at_start_with_a_clear_error(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    # It used to run, and fail each reminder only when one came to be kept.
    # A folder nobody may make, whoever runs the test (even root): /proc takes no new ones.
    settings = settings_of(
        {
            "server": ["http://127.0.0.1:9"],
            "name": "laptop",
            "holdings": Path("/proc/rota-no-such-folder/laptop.json"),
            "audio_out": tmp_path / "audio",
        }
    )
    assert run_device(settings) == 2
    error = capsys.readouterr().err
    assert "rota device: error: cannot write" in error and "Traceback" not in error


async def test_a_reminder_handed_back_on_leaving_never_rings_while_its_release_waits(
    server: FakeServer, start_device: StartDevice, tmp_path: Path
) -> None:
    device = start_device()
    await server.wait_connected()
    # Due after the drain's grace (2 s): handed back, while the server is slow to answer.
    await server.push_jobs(reminder("r1", soon(3.0)))
    await server.wait_for(lambda: held(tmp_path) == ["r1"], what="held")
    server.auto_ack = False
    device.request_drain()
    await server.wait_message("release", "r1")
    await asyncio.sleep(1.5)  # past its due moment, the release still unanswered
    assert wavs(tmp_path, "r1") == [] and server.of_type("result", "r1") == []
    # Kept in the file, for the server may never have heard of the release.
    assert held(tmp_path) == ["r1"]


async def test_a_reminder_ringing_as_the_device_leaves_reports_its_ring_not_a_release(
    server: FakeServer, start_device: StartDevice, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    device = start_device()
    ringer = device._ringer
    ring, under_way = ringer.ring, asyncio.Event()

    async def slow_ring(item: Held) -> Rung:
        under_way.set()
        await asyncio.sleep(0.5)
        return await ring(item)

    monkeypatch.setattr(ringer, "ring", slow_ring)
    await server.wait_connected()
    await server.push_jobs(reminder("r1", soon(0.3)))
    await asyncio.wait_for(under_way.wait(), 5)
    device.request_stop()  # it rings on: handed back, it would ring again elsewhere
    result = await server.wait_message("result", "r1")
    assert result["token"] == "t1" and len(wavs(tmp_path, "r1")) == 1
    assert server.of_type("release", "r1") == []
