"""POST /api/v1/calendars/{name}/import: real calendar exports become reminders and
schedules; importing again changes nothing, a changed file updates, a removed event goes."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import httpx
import pytest

from rota.jobs import JobState
from rota.reminders.model import REMIND_TASK
from rota.settings import Settings
from rota.store.base import JobQuery, Store
from tests.server.conftest import MakeSettings

FIXTURES = Path(__file__).parents[1] / "calendar" / "fixtures"
URL = "/api/v1/calendars/work/import"


@pytest.fixture
def settings(make_settings: MakeSettings) -> Settings:
    # No device has registered rota.remind in these tests: the server must not insist.
    return make_settings(strict_tasks=False)


def google() -> str:
    return (FIXTURES / "google.ics").read_bytes().decode()


async def post(client: httpx.AsyncClient, text: str, **params: Any) -> httpx.Response:
    query = {"target": "device:laptop", "before": 600, "tz": "Europe/Berlin", **params}
    return await client.post(
        URL, content=text.encode(), params=query, headers={"content-type": "text/calendar"}
    )


def counts(report: dict[str, Any]) -> tuple[int, int, int, int]:
    return report["added"], report["updated"], report["removed"], report["unchanged"]


async def reminders(store: Store) -> dict[str, tuple[str, str]]:
    page = await store.list_jobs(JobQuery(task=REMIND_TASK, state=JobState.PENDING, limit=100))
    return {job.kwargs["text"]: (job.run_at.isoformat(), str(job.target)) for job in page.jobs}


async def calendar_schedules(store: Store) -> dict[str, str | None]:
    return {
        str(s.spec.kwargs["text"]): None if s.next_fire_at is None else s.next_fire_at.isoformat()
        for s in await store.list_schedules()
        if s.name.startswith("ics:work:")
    }


async def test_import_then_reimport_changes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    response = await post(client, google())
    assert response.status_code == 200, response.text
    report = response.json()
    assert counts(report) == (4, 0, 0, 0) and report["past"] == 0
    # single events: reminders 10 minutes before; the cancelled event has none
    assert await reminders(store) == {
        "Dentist": ("2031-04-02T12:50:00+00:00", "device:laptop"),
        "Mum's birthday": ("2031-04-04T21:50:00+00:00", "device:laptop"),
    }
    # series: calendar schedules whose first fire is 10 minutes before the first occurrence
    assert await calendar_schedules(store) == {
        "Stand-up": "2031-03-17T07:50:00+00:00",
        "Gym": "2031-03-28T16:50:00+00:00",
    }
    [job] = [
        j
        for j in (await store.list_jobs(JobQuery(task=REMIND_TASK))).jobs
        if j.kwargs["text"] == "Dentist"
    ]
    assert job.kwargs == {
        "text": "Dentist",
        "calendar": "work",
        "uid": "3u5t7v9x1z2b4d6f8h0j@google.com",
        "before_s": 600.0,
    }
    assert job.queue == "reminders"

    again = (await post(client, google())).json()
    assert counts(again) == (0, 0, 0, 4)
    assert len((await store.list_jobs(JobQuery(task=REMIND_TASK))).jobs) == 2
    assert len(await calendar_schedules(store)) == 2


async def test_changed_file_updates_and_removed_events_go(
    client: httpx.AsyncClient, store: Store
) -> None:
    assert (await post(client, google())).status_code == 200
    changed = (
        google()
        .replace("DTSTART:20310402T130000Z", "DTSTART:20310402T150000Z")  # Dentist moved
        .replace("DTEND:20310402T140000Z", "DTEND:20310402T160000Z")
        .replace("EXDATE;TZID=Europe/Berlin:20310407T090000\r\n", "")  # Stand-up on 7 April
        .replace("SUMMARY:Mum's birthday", "SUMMARY:Mum's 70th birthday")
    )
    gym = changed.index("UID:0a1b2c3d4e5f6g7h8i9j@google.com")
    start = changed.rindex("BEGIN:VEVENT", 0, gym)
    end = changed.index("END:VEVENT\r\n", gym) + len("END:VEVENT\r\n")
    changed = changed[:start] + changed[end:]  # the Gym series is gone

    dry = (await post(client, changed, dry_run="true")).json()
    assert dry["dry_run"] is True
    assert counts(dry) == (0, 3, 1, 0)
    assert {(c["action"], c["summary"]) for c in dry["changes"]} == {
        ("updated", "Dentist"),
        ("updated", "Mum's 70th birthday"),
        ("updated", "Stand-up"),
        ("removed", "Gym"),
    }
    assert "Dentist" in await reminders(store) and "Gym" in await calendar_schedules(store)
    assert (await reminders(store))["Dentist"][0] == "2031-04-02T12:50:00+00:00"

    report = (await post(client, changed)).json()
    assert counts(report) == (0, 3, 1, 0)
    assert await reminders(store) == {
        "Dentist": ("2031-04-02T14:50:00+00:00", "device:laptop"),
        "Mum's 70th birthday": ("2031-04-04T21:50:00+00:00", "device:laptop"),
    }
    assert await calendar_schedules(store) == {"Stand-up": "2031-03-17T07:50:00+00:00"}
    cancelled = await store.list_jobs(JobQuery(task=REMIND_TASK, state=JobState.CANCELLED))
    assert sorted(j.kwargs["text"] for j in cancelled.jobs) == ["Dentist", "Mum's birthday"]
    assert counts((await post(client, changed)).json()) == (0, 0, 0, 3)


async def test_malformed_file_names_the_line_and_changes_nothing(
    client: httpx.AsyncClient, store: Store
) -> None:
    assert (await post(client, google())).status_code == 200
    before = await reminders(store), await calendar_schedules(store)
    broken = google().replace("DTSTART:20310402T130000Z", "DTSTART:next tuesday")
    response = await post(client, broken)
    assert response.status_code == 422
    assert response.json()["error"]["message"].startswith("line 75: DTSTART")
    assert (await reminders(store), await calendar_schedules(store)) == before


async def test_json_body_outlook_and_bad_options(client: httpx.AsyncClient, store: Store) -> None:
    text = (FIXTURES / "outlook.ics").read_bytes().decode()
    response = await client.post(
        "/api/v1/calendars/office/import", json={"ics": text}, params={"target": "device"}
    )
    assert response.status_code == 200, response.text
    assert counts(response.json()) == (2, 0, 0, 0)
    assert (await reminders(store))["Quarterly review"] == ("2031-04-15T12:00:00+00:00", "device")
    bad = await client.post("/api/v1/calendars/office/import", json={"ics": text, "x": 1})
    assert bad.status_code == 422
    bad_zone = await client.post(
        "/api/v1/calendars/office/import", json={"ics": text}, params={"tz": "Mars/Base"}
    )
    assert bad_zone.status_code == 422 and "Mars/Base" in bad_zone.text
    assert (
        await client.post("/api/v1/calendars/no%20spaces/import", json={"ics": text})
    ).status_code == 422


async def test_a_schedule_of_any_task_may_use_a_calendar_trigger(client: httpx.AsyncClient) -> None:
    ics = "\r\n".join(
        [
            "BEGIN:VCALENDAR",
            "VERSION:2.0",
            "PRODID:-//Rota//tests//EN",
            "BEGIN:VEVENT",
            "UID:report",
            "DTSTART;TZID=America/New_York:20311025T100000",
            "RRULE:FREQ=WEEKLY;COUNT=3",
            "END:VEVENT",
            "END:VCALENDAR",
        ]
    )
    body = {"name": "report", "task": "rota.echo", "ics": ics, "before": 60, "tz": "UTC"}
    response = await client.post("/api/v1/schedules", json=body)
    assert response.status_code == 201, response.text
    assert response.json()["next_fire_times"] == [
        "2031-10-25T13:59:00+00:00",
        "2031-11-01T13:59:00+00:00",
        "2031-11-08T14:59:00+00:00",
    ]
    both = await client.post("/api/v1/schedules", json={**body, "name": "b", "cron": "@daily"})
    assert both.status_code == 422 and "exactly one of cron and interval" in both.text
    broken = await client.post("/api/v1/schedules", json={**body, "name": "c", "ics": "x"})
    assert broken.status_code == 422 and "ics: " in broken.text
    early = await client.post(
        "/api/v1/schedules", json={"name": "d", "task": "rota.echo", "cron": "@daily", "before": 5}
    )
    assert early.status_code == 422 and "before_s" in early.text
