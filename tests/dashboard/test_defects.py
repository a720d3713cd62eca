"""What the dashboard showed wrong, each checked in a real browser against a real server."""

from __future__ import annotations

import json
import re
from typing import Any

from playwright.sync_api import Browser, Page, Route, expect

from tests.dashboard.conftest import Console
from tests.e2e.conftest import Cluster, wait_for

MINUTE_AT = "2030-01-01T12:00:30+00:00"


def overview(**changes: Any) -> dict[str, Any]:
    """An overview answer: 30 s into a minute, after a full minute of 3.6 jobs/s."""
    body: dict[str, Any] = {
        "at": MINUTE_AT,
        "span_s": 3600,
        "bucket_s": 60,
        "throughput": [
            {"start_at": "2030-01-01T11:58:00+00:00", "succeeded": 60, "failed": 0},
            {"start_at": "2030-01-01T11:59:00+00:00", "succeeded": 216, "failed": 6},
            {"start_at": "2030-01-01T12:00:00+00:00", "succeeded": 88, "failed": 0},
        ],
        "lateness": {"p50_s": 0.01, "p99_s": 0.2, "samples": 370},
        "queues": [
            {"queue": "default", "pending": 4, "due": 1, "running": 4, "oldest_due_age_s": 2}
        ],
        "workers": {"online": 1, "total": 1, "capacity": 8, "running": 4},
    }
    return body | changes


def serve_overview(page: Page, body: dict[str, Any]) -> None:
    def answer(route: Route) -> None:
        route.fulfill(status=200, content_type="application/json", body=json.dumps(body))

    page.route("**/api/v1/overview", answer)


def test_rate_cards_read_the_last_complete_minute(cluster: Cluster, page: Page) -> None:
    serve_overview(page, overview())
    page.goto(cluster.url + "/")
    # 216 in the minute that ended, not 88 in the 30 s of this one divided by 60 (1.47).
    expect(page.get_by_test_id("succeeded-rate").locator(".value")).to_have_text("3.60")
    expect(page.get_by_test_id("failed-rate").locator(".value")).to_have_text("0.10")


def test_pending_and_running_are_separate_cards(cluster: Cluster, page: Page) -> None:
    serve_overview(page, overview())
    page.goto(cluster.url + "/")
    pending = page.get_by_test_id("pending")
    expect(pending.locator(".value")).to_have_text("4")
    expect(pending.locator(".sub")).to_have_text("1 due now")
    expect(page.get_by_test_id("running").locator(".value")).to_have_text("4")


def test_a_cancelled_job_says_how_it_ended_and_shows_no_progress(
    cluster: Cluster, page: Page, console: Console
) -> None:
    job = cluster.submit({"task": "dash.chatty", "args": ["halt"], "kwargs": {"seconds": 30}})
    wait_for(lambda: cluster.job(job["id"])["progress"] == 0.5, what="progress of 50%")
    cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    expect(page.get_by_test_id("state")).to_have_text("cancelled")
    outcome = page.get_by_test_id("outcome")
    expect(outcome).to_contain_text("Cancelled")
    expect(outcome).to_contain_text("while it ran")
    expect(outcome).not_to_contain_text("No outcome yet")
    expect(page.get_by_test_id("progress")).to_have_count(0)
    assert console.errors == []


def test_a_running_job_shows_its_progress_message_and_elapsed_time(
    cluster: Cluster, page: Page, console: Console
) -> None:
    job = cluster.submit({"task": "dash.steps", "args": [3, 30]})
    try:
        page.goto(f"{cluster.url}/jobs/{job['id']}")
        expect(page.get_by_test_id("progress-message")).to_have_text("step 3 of 3")
        expect(page.get_by_test_id("progress-elapsed")).to_have_text(re.compile(r"^running \d"))
        expect(page.get_by_test_id("progress")).to_contain_text("75%")
        page.goto(cluster.url + f"/jobs?search={job['id']}&q={job['id']}")
        row = page.locator(f"[data-job='{job['id']}']")
        expect(row.locator(".progress-line")).to_contain_text("running")
        # The jobs list shows the message beside the bar too: the job JSON carries it.
        expect(row.get_by_test_id(f"progress-{job['id']}-message")).to_have_text("step 3 of 3")
        listed = cluster.get(f"/api/v1/jobs?search={job['id']}")["jobs"]
        assert [j["progress_message"] for j in listed] == ["step 3 of 3"]
        assert cluster.job(job["id"])["progress_message"] == "step 3 of 3"
    finally:
        cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert console.errors == []


def test_progress_events_are_collapsed_and_not_shaded_like_a_bar(
    cluster: Cluster, page: Page, console: Console
) -> None:
    job = cluster.submit({"task": "dash.steps", "args": [6], "kwargs": {"pause": 0.3}})
    cluster.wait_finished(job["id"])
    events = cluster.get(f"/api/v1/jobs/{job['id']}/events")["events"]
    reported = sum(1 for event in events if event["kind"] == "progress")
    assert reported >= 2, events
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    log = page.get_by_test_id("log")
    progress_rows = log.locator("tbody tr.kind-progress")
    expect(progress_rows).to_have_count(1)  # the newest stands for them all
    expect(progress_rows).to_contain_text("step 6 of 6")
    expect(progress_rows).to_contain_text(f"+{reported - 1} earlier")
    shades = page.evaluate(
        """() => [...document.querySelectorAll('[data-testid=log] tbody tr')]
             .map((tr) => getComputedStyle(tr).backgroundColor)"""
    )
    assert len(set(shades)) == 1, f"rows are shaded differently: {shades}"
    page.get_by_test_id("expand-progress").click()
    expect(progress_rows).to_have_count(reported)
    assert console.errors == []


def create_schedule(cluster: Cluster, **body: Any) -> dict[str, Any]:
    created = cluster.request("POST", "/api/v1/schedules", json={"task": "rota.echo", **body})
    assert created.status_code == 201, created.text
    return dict(created.json())


def test_a_paused_schedule_shows_no_next_fire_time(
    cluster: Cluster, page: Page, console: Console
) -> None:
    schedule = create_schedule(cluster, name="held-back", cron="0 3 * * *", paused=True)
    try:
        page.goto(cluster.url + "/schedules")
        row = page.locator(f"[data-schedule='{schedule['id']}']")
        expect(row.get_by_test_id("next-fire")).to_have_text("\u2013 (paused)")
        page.goto(f"{cluster.url}/schedules/held-back")
        expect(page.get_by_test_id("preview-note")).to_contain_text("Paused")
    finally:
        cluster.request("DELETE", "/api/v1/schedules/held-back")
    assert console.errors == []


def test_a_schedule_shows_five_times_on_its_own_zones_clocks(
    cluster: Cluster, browser: Browser
) -> None:
    """A Europe/Berlin schedule at 03:00 reads 03:00 in a browser in UTC, in words too."""
    create_schedule(cluster, name="berlin-night", cron="0 3 * * *", tz="Europe/Berlin")
    context = browser.new_context(timezone_id="UTC")
    try:
        page = context.new_page()
        page.goto(f"{cluster.url}/schedules/berlin-night")
        times = page.get_by_test_id("preview").locator("li")
        expect(times).to_have_count(5)
        for text in times.all_inner_texts():
            assert re.fullmatch(r"\d{4}-\d\d-\d\d 03:00:00 (CET|CEST|GMT\+[12])", text), text
        expect(page.get_by_test_id("preview-words")).to_have_text("At 03:00 (Europe/Berlin)")
        page.goto(cluster.url + "/schedules")
        row = page.locator("[data-schedule]", has_text="berlin-night")
        expect(row.get_by_test_id("description")).to_have_text("At 03:00")
        expect(row.get_by_test_id("next-fire")).to_contain_text("03:00:00")
    finally:
        context.close()
        cluster.request("DELETE", "/api/v1/schedules/berlin-night")


def test_the_schedule_form_names_its_fields_for_people_and_has_them_all(
    cluster: Cluster, page: Page, console: Console
) -> None:
    page.goto(cluster.url + "/schedules/new")
    expect(page.locator("form label").last).to_be_visible()  # drawn (all_inner_texts waits not)
    labels = page.locator("form label").all_inner_texts()
    assert labels and not [text for text in labels if "_" in text], labels
    page.fill("#name", "every-field")
    page.fill("#task", "rota.echo")
    page.fill("#interval", "3600")
    page.fill("#kwargs", '{"greeting": "hi"}')
    page.select_option("#misfire", "skip")
    page.select_option("#overlap", "skip")
    page.fill("#deadline", "60")
    page.fill("#start_at", "2030-01-01T00:00:00")
    page.fill("#end_at", "2031-01-01T00:00:00")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/schedules$"))
    stored = cluster.get("/api/v1/schedules/every-field")
    cluster.request("DELETE", "/api/v1/schedules/every-field")
    assert stored["kwargs"] == {"greeting": "hi"}
    assert (stored["misfire"], stored["overlap"], stored["deadline_s"]) == ("skip", "skip", 60)
    assert stored["start_at"].startswith("2030-01-01") and stored["end_at"].startswith("2031")
    assert console.errors == []


def test_times_carry_their_zone_in_one_format_and_the_toggle_is_remembered(
    cluster: Cluster, browser: Browser
) -> None:
    job = cluster.submit({"task": "dash.chatty", "args": ["zones"], "kwargs": {"seconds": 0.05}})
    cluster.wait_finished(job["id"])
    context = browser.new_context(timezone_id="Europe/Berlin")
    try:
        page = context.new_page()
        page.goto(f"{cluster.url}/jobs/{job['id']}")
        expect(page.get_by_test_id("log")).to_contain_text("succeeded")
        main = page.locator("main").inner_text()
        assert not re.search(r"\b(AM|PM)\b", main), "12-hour times"
        shown = page.locator("main time").all_inner_texts()
        assert shown, "no times on the page"
        clock = r"(\d{4}-\d\d-\d\d )?\d\d:\d\d:\d\d(\.\d{3})? "
        for text in shown:
            assert re.fullmatch(clock + r"(CET|CEST|GMT\+[12])", text), text
        page.get_by_test_id("zone-toggle").click()
        expect(page.get_by_test_id("zone-toggle")).to_have_text("UTC")
        expect(page.locator("main time").first).to_have_text(re.compile(clock + "UTC$"))
        page.reload()
        expect(page.locator("main time").first).to_have_text(re.compile(clock + "UTC$"))
    finally:
        context.close()


def test_a_job_names_its_schedule(cluster: Cluster, page: Page) -> None:
    schedule = create_schedule(cluster, name="named-source", interval=3600)
    triggered = cluster.request("POST", f"/api/v1/schedules/{schedule['id']}/trigger").json()
    try:
        page.goto(f"{cluster.url}/jobs/{triggered['id']}")
        link = page.get_by_test_id("schedule").get_by_role("link")
        expect(link).to_have_text("named-source")
        assert schedule["id"] not in page.get_by_test_id("schedule").inner_text()
    finally:
        cluster.request("DELETE", "/api/v1/schedules/named-source")


def test_job_rows_open_on_a_click_sort_by_a_header_and_show_args_and_duration(
    cluster: Cluster, page: Page, console: Console
) -> None:
    jobs = [
        cluster.submit({"task": task, "queue": "rows", "args": [n, "x"]})
        for n, task in enumerate(["rota.echo", "rota.fail", "dash.chatty"])
    ]
    page.goto(cluster.url + "/jobs?queue=rows")
    table = page.get_by_test_id("jobs-table")
    expect(table.locator("[data-job]")).to_have_count(3)
    table.get_by_role("button", name="Task").click()
    expect(table.locator("tbody td[data-label=Task]")).to_have_text(
        ["dash.chatty", "rota.echo", "rota.fail"]
    )
    table.get_by_role("button", name="Task").click()
    expect(table.locator("tbody td[data-label=Task]")).to_have_text(
        ["rota.fail", "rota.echo", "dash.chatty"]
    )
    expect(table.locator(f"[data-job='{jobs[0]['id']}'] td[data-label=Args]")).to_have_text(
        '0, "x"'
    )
    expect(table.locator("tbody td[data-label=Duration]").first).to_have_text("\u2013")
    table.locator(f"[data-job='{jobs[1]['id']}'] td[data-label=Queue]").click()
    expect(page).to_have_url(re.compile(f"/jobs/{jobs[1]['id']}$"))
    for job in jobs:
        cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert console.errors == []


def test_the_schedule_form_reads_start_and_end_in_the_schedules_zone(
    cluster: Cluster, browser: Browser
) -> None:
    """A reader in New York making a Europe/Berlin schedule types Berlin wall times, and the
    form says so; a wall time the clock skips means the first instant after the gap."""
    from datetime import datetime

    context = browser.new_context(timezone_id="America/New_York")
    try:
        page = context.new_page()
        page.goto(cluster.url + "/schedules/new")
        page.fill("#name", "berlin-window")
        page.fill("#task", "rota.echo")
        page.fill("#interval", "3600")
        page.fill("#tz", "Europe/Berlin")
        expect(page.get_by_test_id("start_at-zone")).to_contain_text("Europe/Berlin")
        expect(page.get_by_test_id("end_at-zone")).to_contain_text("Europe/Berlin")
        page.fill("#start_at", "2030-01-01T03:00:00")
        page.fill("#end_at", "2030-03-31T02:30:00")  # Berlin skips 02:00-03:00 that night
        page.get_by_role("button", name="Create").click()
        expect(page).to_have_url(re.compile(r"/schedules$"))
        stored = cluster.get("/api/v1/schedules/berlin-window")
        assert datetime.fromisoformat(stored["start_at"]) == datetime.fromisoformat(
            "2030-01-01T02:00:00+00:00"
        )
        assert datetime.fromisoformat(stored["end_at"]) == datetime.fromisoformat(
            "2030-03-31T01:00:00+00:00"
        )
        # Editing shows them back on the schedule's clocks, not the reader's.
        page.goto(cluster.url + "/schedules/berlin-window")
        # (the browser drops ":00" seconds from the value it reports)
        expect(page.locator("#start_at")).to_have_value(re.compile(r"^2030-01-01T03:00(:00)?$"))
        expect(page.locator("#end_at")).to_have_value(re.compile(r"^2030-03-31T03:00(:00)?$"))
        expect(page.get_by_test_id("start_at-zone")).to_contain_text("Europe/Berlin")
    finally:
        context.close()
        cluster.request("DELETE", "/api/v1/schedules/berlin-window")
