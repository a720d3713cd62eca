"""The alarm: each occurrence fires once, at its moment by the clock, or at once when late."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from rota.clock import SYSTEM_CLOCK, ManualClock
from rota.device import alarm as alarm_module
from rota.device.alarm import Alarm
from rota.device.holdings import Held
from rota.reminders.model import ReminderSpec


def _held(job_id: str, in_s: float, clock: ManualClock | None = None) -> Held:
    now = (clock or SYSTEM_CLOCK).now_utc()
    return Held(job_id=job_id, due_at=now + timedelta(seconds=in_s), spec=ReminderSpec(text="x"))


class Fired:
    def __init__(self) -> None:
        self.items: list[Held] = []
        self.event = asyncio.Event()

    async def __call__(self, item: Held) -> None:
        self.items.append(item)
        self.event.set()


async def test_an_occurrence_fires_once_at_its_moment() -> None:
    fired = Fired()
    alarm = Alarm(fired)
    item = _held("a", 0.2)
    alarm.set(item)
    alarm.set(item)  # setting it again changes nothing
    assert item.key in alarm
    async with asyncio.timeout(5):
        await fired.event.wait()
    assert SYSTEM_CLOCK.now_utc() >= item.due_at
    await asyncio.sleep(0.05)
    assert fired.items == [item] and len(alarm) == 0


async def test_a_late_occurrence_fires_at_once() -> None:
    fired = Fired()
    Alarm(fired).set(_held("late", -60))
    async with asyncio.timeout(1):
        await fired.event.wait()
    assert [item.job_id for item in fired.items] == ["late"]


async def test_a_cleared_occurrence_never_fires() -> None:
    fired = Fired()
    alarm = Alarm(fired)
    item, other = _held("a", 0.1), _held("b", 0.2)
    alarm.set(item)
    alarm.set(other)
    assert alarm.clear(item.key) and not alarm.clear(item.key)
    async with asyncio.timeout(5):
        await fired.event.wait()
    await asyncio.sleep(0.05)
    assert fired.items == [other]


async def test_a_clock_set_forward_brings_the_ring_forward(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(alarm_module, "STEP_S", 0.02)
    clock = ManualClock()
    fired = Fired()
    alarm = Alarm(fired, clock=clock)
    alarm.set(_held("a", 3600, clock))
    await asyncio.sleep(0.1)
    assert fired.items == []
    clock.advance(3600)
    async with asyncio.timeout(2):
        await fired.event.wait()


async def test_one_failing_ring_does_not_silence_the_others() -> None:
    fired = Fired()

    async def fire(item: Held) -> None:
        if item.job_id == "bad":
            raise RuntimeError("no speaker")
        await fired(item)

    alarm = Alarm(fire)
    alarm.set(_held("bad", 0.05))
    alarm.set(_held("good", 0.1))
    async with asyncio.timeout(5):
        await fired.event.wait()
    assert [item.job_id for item in fired.items] == ["good"]


async def test_close_stops_every_wait() -> None:
    fired = Fired()
    alarm = Alarm(fired)
    alarm.set(_held("a", 0.1))
    alarm.close()
    await asyncio.sleep(0.2)
    assert fired.items == [] and len(alarm) == 0
