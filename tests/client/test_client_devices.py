"""The client's device and reminder-action methods against a real server."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from rota import Client
from rota.errors import InvalidInput, JobNotFound, WorkerNotFound
from tests.client.live import LiveServer, running_server


@pytest.fixture
def lenient_server(tmp_path: Path) -> Iterator[LiveServer]:
    """A server that takes jobs of tasks no worker announced yet (no device runs here)."""
    with running_server(tmp_path / "rota.db", strict_tasks=False) as live:
        yield live


def test_snooze_and_dismiss_through_the_sync_client(lenient_server: LiveServer) -> None:
    with Client(lenient_server.url) as client:
        reminder = client.submit(
            "rota.remind", kwargs={"text": "Oven"}, queue="reminders", target="device:kitchen"
        )
        snoozed = client.snooze(reminder["id"], timedelta(minutes=2))
        assert snoozed["created"] is True
        assert snoozed["snoozed"]["state"] == "cancelled"
        made = snoozed["reminder"]
        assert made["idempotency_key"] == f"snooze:{reminder['id']}"
        due_in = datetime.fromisoformat(made["run_at"]) - datetime.fromisoformat(made["created_at"])
        assert timedelta(seconds=119) < due_in < timedelta(seconds=125)
        assert client.snooze(reminder["id"], 7)["reminder"]["id"] == made["id"]
        assert client.dismiss(made["id"])["state"] == "cancelled"
        assert client.dismiss(made["id"])["state"] == "cancelled"  # again: answered as it is
        with pytest.raises(InvalidInput):
            client.snooze(made["id"], "soon")  # type: ignore[arg-type]
        echo = client.submit("rota.echo", ["x"], delay=60)
        with pytest.raises(JobNotFound, match="is not a reminder"):
            client.snooze(echo["id"], 5)


def test_devices_through_the_sync_client(lenient_server: LiveServer) -> None:
    with Client(lenient_server.url) as client:
        assert client.devices() == []
        with pytest.raises(WorkerNotFound, match="no device named 'attic'"):
            client.device("attic")
