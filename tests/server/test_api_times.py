"""Times and spans at the REST edge: one range for every field, a 422 naming the field, and
nothing stored for a refusal (never a 500 from a moment that does not fit a datetime)."""

from __future__ import annotations

from typing import Any

import httpx
import pytest

from tests.server.test_api_submit import assert_error, stored_count

JOBS = "/api/v1/jobs"
SCHEDULES = "/api/v1/schedules"
TOO_LATE = "9999-12-31T23:59:59-01:00"
TOO_EARLY = "0001-01-01T00:30:00+01:00"
OUT_OF_RANGE = [TOO_LATE, TOO_EARLY, "9000-01-01T00:00:01Z", "1969-12-31T23:59:59Z"]
RANGE = "must be between 1970-01-01T00:00:00Z and 9000-01-01T00:00:00Z"


async def schedule_count(client: httpx.AsyncClient) -> int:
    response = await client.get(SCHEDULES)
    assert response.status_code == 200
    return len(response.json()["schedules"])


@pytest.mark.parametrize("moment", OUT_OF_RANGE)
@pytest.mark.parametrize("field", ["run_at", "deadline"])
async def test_a_submitted_time_out_of_range_is_a_422_naming_the_field(
    client: httpx.AsyncClient, field: str, moment: str
) -> None:
    response = await client.post(JOBS, json={"task": "rota.echo", field: moment})
    assert_error(response, 422, "InvalidInput", f"{field}: {RANGE}")
    assert await stored_count(client) == 0


@pytest.mark.parametrize("moment", ["1970-01-01T00:00:00Z", "9000-01-01T00:00:00Z"])
async def test_the_ends_of_the_range_are_accepted(client: httpx.AsyncClient, moment: str) -> None:
    response = await client.post(JOBS, json={"task": "rota.echo", "run_at": moment})
    assert response.status_code == 201, response.text


@pytest.mark.parametrize("moment", [1_700_000_000, 0.5, "1700000000"])
async def test_a_number_is_not_a_moment(client: httpx.AsyncClient, moment: Any) -> None:
    # The API documents moments as ISO 8601 text; pydantic alone reads numbers as epoch seconds.
    response = await client.post(JOBS, json={"task": "rota.echo", "run_at": moment})
    assert_error(response, 422, "InvalidInput", "run_at: give ISO 8601 text with an offset")
    listed = await client.get(JOBS, params={"created_before": "0.5"})
    assert_error(listed, 422, "InvalidInput", "created_before: give ISO 8601 text")
    assert await stored_count(client) == 0


async def test_a_bulk_submission_with_one_time_out_of_range_stores_nothing(
    client: httpx.AsyncClient,
) -> None:
    response = await client.post(
        JOBS, json=[{"task": "rota.echo"}, {"task": "rota.echo", "run_at": TOO_LATE}]
    )
    assert_error(response, 422, "InvalidInput", f"jobs[1].run_at: {RANGE}")
    assert await stored_count(client) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"delay": 1e300}, "delay"),
        ({"delay": -1}, "delay"),
        ({"timeout": 1e300}, "timeout"),
        ({"timeout": 0}, "timeout"),
        ({"backoff": {"max_s": 1e300}}, "backoff.max_s"),
        ({"backoff": {"base_s": 1e300}}, "backoff.base_s"),
    ],
)
async def test_a_span_out_of_range_is_a_422_naming_the_field(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    response = await client.post(JOBS, json={"task": "rota.echo", **body})
    assert_error(response, 422, "InvalidInput", f"{field}: must be a number of seconds")
    assert await stored_count(client) == 0


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"run_at": TOO_LATE}, "run_at"),
        ({"run_at": TOO_EARLY}, "run_at"),
        ({"delay": 1e300}, "delay"),
    ],
)
async def test_a_patch_out_of_range_is_a_422_and_changes_nothing(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    job = (await client.post(JOBS, json={"task": "rota.echo", "delay": 60})).json()
    response = await client.patch(f"{JOBS}/{job['id']}", json=body)
    assert_error(response, 422, "InvalidInput", f"{field}: ")
    assert (await client.get(f"{JOBS}/{job['id']}")).json()["run_at"] == job["run_at"]


SCHEDULE = {"task": "rota.echo", "interval": 60}
FAR_AHEAD = "2999-01-01T00:00:00Z"


@pytest.mark.parametrize(
    ("body", "field"),
    [
        ({"start_at": TOO_LATE}, "start_at"),
        ({"start_at": TOO_EARLY}, "start_at"),
        ({"end_at": TOO_LATE}, "end_at"),
        ({"interval": 1e300}, "interval"),
        ({"jitter": 1e300}, "jitter"),
        ({"deadline": 1e300}, "deadline"),
        ({"timeout": 1e300}, "timeout"),
    ],
)
async def test_a_schedule_time_out_of_range_is_a_422_on_every_route(
    client: httpx.AsyncClient, body: dict[str, Any], field: str
) -> None:
    created = await client.post(SCHEDULES, json={"name": "a", **SCHEDULE, **body})
    assert_error(created, 422, "InvalidInput", f"{field}: ")
    put = await client.put(f"{SCHEDULES}/b", json={**SCHEDULE, **body})
    assert_error(put, 422, "InvalidInput", f"{field}: ")
    preview = await client.post(f"{SCHEDULES}/preview", json={**SCHEDULE, **body})
    assert_error(preview, 422, "InvalidInput", f"{field}: ")
    assert await schedule_count(client) == 0

    # It starts far ahead so it cannot fire (and change) while the test looks at it.
    created = await client.post(SCHEDULES, json={"name": "c", **SCHEDULE, "start_at": FAR_AHEAD})
    assert created.status_code == 201, created.text
    patched = await client.patch(f"{SCHEDULES}/c", json=body)
    assert_error(patched, 422, "InvalidInput", f"{field}: ")
    assert (await client.get(f"{SCHEDULES}/c")).json() == created.json()


async def test_a_cron_schedule_near_the_end_of_the_range_has_no_next_fire_time_error(
    client: httpx.AsyncClient,
) -> None:
    body = {
        "name": "late",
        "task": "rota.echo",
        "cron": "0 0 * * *",
        "start_at": "8999-12-31T00:00:00Z",
    }
    response = await client.post(SCHEDULES, json=body)
    assert response.status_code == 201, response.text
    assert response.json()["next_fire_times"][0] == "8999-12-31T00:00:00+00:00"
