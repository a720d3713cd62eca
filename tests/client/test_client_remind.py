"""Client.remind and AsyncClient.remind: one request, the server's jobs or schedules back."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from rota import AsyncClient, Client
from rota.errors import InvalidInput
from tests.client.live import LiveServer


def test_sync_client_reminds_a_device_at_an_aware_time(live_server: LiveServer) -> None:
    due = datetime.now(UTC).replace(microsecond=0) + timedelta(hours=2)
    with Client(live_server.url) as client:
        made = client.remind("Stretch", at=due, device="laptop", deadline=timedelta(minutes=5))
        [job] = made["jobs"]
        assert datetime.fromisoformat(job["run_at"]) == due
        assert datetime.fromisoformat(job["deadline_at"]) == due + timedelta(minutes=5)
        assert job["target"] == "device:laptop" and job["queue"] == "reminders"
        page = client.list_jobs(task="rota.remind")
        assert [item["id"] for item in page["jobs"]] == [job["id"]]
        with pytest.raises(InvalidInput, match="tz: unknown time zone"):
            client.remind("x", at="09:00", tz="Atlantis/City", device="laptop")


async def test_async_client_makes_a_recurring_reminder(live_server: LiveServer) -> None:
    async with AsyncClient(live_server.url) as client:
        made = await client.remind(
            "Water the plants", every=3600, any_device=True, notify=["json://h/x"], name="water"
        )
    assert [(s["name"], s["target"], s["interval_s"]) for s in made["schedules"]] == [
        ("water.any", "device", 3600),
        ("water.notify", None, 3600),
    ]
