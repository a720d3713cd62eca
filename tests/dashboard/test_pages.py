"""The dashboard in a real browser: every page, live updates, actions and paging."""

from __future__ import annotations

import asyncio
import re
import time
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import httpx
import pytest
from playwright.sync_api import Browser, Page, expect

from rota.jobs import JobSpec
from rota.store.factory import open_store
from tests.dashboard.conftest import Console, screenshot
from tests.e2e.conftest import Cluster, wait_for

BULK_JOBS = 10_000
BULK_BATCH = 2_500


def finished_chatty(cluster: Cluster, text: str) -> dict[str, Any]:
    job = cluster.submit({"task": "dash.chatty", "args": [text], "kwargs": {"seconds": 0.05}})
    return cluster.wait_finished(job["id"])


def test_every_page_loads_without_errors(cluster: Cluster, page: Page, console: Console) -> None:
    done = finished_chatty(cluster, "overview")
    cluster.submit({"task": "rota.echo", "args": ["later"], "delay": 3600})
    cluster.submit({"task": "rota.echo", "queue": "nobody"})  # waits: no worker serves it

    page.goto(cluster.url + "/")
    expect(page.locator("#live")).to_have_text("live")
    expect(page.get_by_test_id("workers-online")).to_contain_text("1")
    expect(page.locator(".chart rect.ok").first).to_be_visible()
    expect(page.get_by_role("link", name="nobody")).to_be_visible()
    screenshot(page, "overview")

    page.get_by_role("link", name="Jobs", exact=True).click()
    expect(page).to_have_url(re.compile(r"/jobs$"))
    expect(page.get_by_test_id("jobs-table")).to_contain_text("dash.chatty")
    screenshot(page, "jobs")

    page.goto(f"{cluster.url}/jobs/{done['id']}")  # a deep link loads the app
    expect(page.get_by_test_id("state")).to_have_text("succeeded")
    expect(page.get_by_test_id("result")).to_contain_text("weivrevo")
    log = page.get_by_test_id("log")
    expect(log).to_contain_text("printed overview")  # stdout, captured
    expect(log).to_contain_text("logged overview")  # the logging module, captured
    expect(log).to_contain_text("half way")
    screenshot(page, "job")

    page.get_by_role("link", name="Workers", exact=True).click()
    expect(page.get_by_test_id("workers-table")).to_contain_text("w1")
    expect(page.locator("[data-worker=w1] .badge")).to_have_text("online")
    screenshot(page, "workers")

    page.get_by_role("link", name="Schedules", exact=True).click()
    expect(page.locator("main h1")).to_contain_text("Schedules")
    screenshot(page, "schedules")

    page.get_by_role("link", name="Submit", exact=True).click()
    expect(page.get_by_test_id("submit")).to_be_visible()
    screenshot(page, "submit")

    page.goto(cluster.url + "/jobs/no/such/page")
    expect(page.locator("main h1")).to_have_text("Not found")
    assert console.errors == []


def test_submitted_job_reaches_succeeded_without_reload(
    cluster: Cluster, page: Page, console: Console
) -> None:
    page.goto(cluster.url + "/submit")
    page.evaluate("window.__sameDocument = true")
    page.fill("#task", "dash.chatty")
    page.fill("#args", '["live"]')
    page.fill("#kwargs", '{"seconds": 1.0}')
    page.get_by_test_id("submit").click()
    expect(page).to_have_url(re.compile(r"/jobs/[0-9a-f-]{36}$"))
    # The page follows the job through the event stream: running, then succeeded.
    expect(page.get_by_test_id("state")).to_have_text("succeeded", timeout=20_000)
    expect(page.get_by_test_id("result")).to_contain_text("evil")
    expect(page.get_by_test_id("log")).to_contain_text("printed live")
    assert page.evaluate("window.__sameDocument") is True, "the page was reloaded"
    assert console.errors == []


def test_cancel_then_retry_from_the_job_page(cluster: Cluster, page: Page) -> None:
    job = cluster.submit({"task": "dash.chatty", "args": ["again"], "delay": 3600})
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    expect(page.get_by_test_id("state")).to_have_text("pending")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("state")).to_have_text("cancelled")
    assert cluster.job(job["id"])["state"] == "cancelled"
    page.get_by_test_id("retry").click()
    # Retried jobs are due at once, so it runs and succeeds.
    expect(page.get_by_test_id("state")).to_have_text("succeeded", timeout=20_000)
    assert cluster.job(job["id"])["result"] == "niaga"


def test_attempts_of_every_round_are_listed_each_with_its_number(
    cluster: Cluster, page: Page, console: Console
) -> None:
    fast = {"base_s": 0.01, "max_s": 0.01, "jitter": 0}
    job = cluster.submit({"task": "rota.fail", "args": ["no"], "max_attempts": 2, "backoff": fast})
    assert cluster.wait_finished(job["id"])["state"] == "failed"
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    expect(page.get_by_test_id("attempts").locator("tbody tr")).to_have_count(2)
    page.get_by_test_id("retry").click()
    expect(page.get_by_test_id("state")).to_have_text("failed", timeout=20_000)
    expect(page.get_by_test_id("attempt")).to_have_text("4 of 4", timeout=20_000)
    rows = page.get_by_test_id("attempts").locator("tbody tr")
    expect(rows).to_have_count(4)
    expect(rows.locator("td:first-child")).to_have_text(["1", "2", "3", "4"])
    assert console.errors == []


def test_a_job_cancelled_while_its_code_runs_shows_stopping_until_it_stopped(
    cluster: Cluster, page: Page, console: Console
) -> None:
    # One 3 s time.sleep: the worker's interrupt lands only when it returns.
    job = cluster.submit({"task": "dash.chatty", "args": ["stuck", 3]})
    wait_for(lambda: cluster.job(job["id"])["state"] == "running", what="the job to run")
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    page.get_by_test_id("cancel").click()
    expect(page.get_by_test_id("state")).to_have_text("cancelled")
    expect(page.get_by_test_id("stopping")).to_have_text("stopping")
    expect(page.get_by_test_id("stopping-note")).to_contain_text("still running on worker w1")
    expect(page.get_by_test_id("retry")).to_be_disabled()
    page.goto(f"{cluster.url}/jobs?state=cancelled")
    expect(page.locator(f"[data-job='{job['id']}'] .badge.stopping")).to_have_count(1)
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    # Once its code stopped, the worker releases it and the page says so by itself.
    expect(page.get_by_test_id("stopping")).to_have_count(0, timeout=20_000)
    expect(page.get_by_test_id("retry")).to_be_enabled()
    assert cluster.job(job["id"])["stopping"] is False
    assert console.errors == []


def test_bulk_cancel_and_retry_of_a_selection(cluster: Cluster, page: Page) -> None:
    jobs = cluster.submit([{"task": "rota.echo", "queue": "held", "args": [n]} for n in range(6)])
    page.goto(cluster.url + "/jobs?queue=held")
    expect(page.locator("[data-job]")).to_have_count(6)
    page.get_by_label("select all on this page").check()
    page.get_by_test_id("bulk-cancel").click()
    expect(page.locator("[data-job] .badge.cancelled")).to_have_count(6)
    assert {cluster.job(job["id"])["state"] for job in jobs} == {"cancelled"}
    page.get_by_label(f"select {jobs[0]['id']}").check()
    page.get_by_test_id("bulk-retry").click()
    expect(page.locator("[data-job] .badge.pending")).to_have_count(1)
    assert cluster.job(jobs[0]["id"])["state"] == "pending"


def test_page_through_ten_thousand_jobs(cluster: Cluster, page: Page) -> None:
    for start in range(0, BULK_JOBS, BULK_BATCH):
        cluster.submit(
            [
                {"task": "rota.echo", "queue": "deep", "args": [n], "delay": 3600}
                for n in range(start, start + BULK_BATCH)
            ]
        )
    page.goto(cluster.url + "/jobs?queue=deep&limit=500")
    info = page.get_by_test_id("page-info")
    expect(info).to_have_text("page 1 · jobs 1\u2013500")
    newest_first = page.locator("[data-job]").first.get_attribute("data-job")
    seen = {newest_first}
    pages = 1
    while page.get_by_test_id("next").is_enabled():
        page.get_by_test_id("next").click()
        pages += 1
        expect(info).to_have_text(re.compile(rf"^page {pages} "))
        seen.add(page.locator("[data-job]").first.get_attribute("data-job"))
    assert pages == BULK_JOBS // 500
    expect(info).to_have_text(f"page {pages} · jobs {BULK_JOBS - 499}\u2013{BULK_JOBS}")
    assert len(seen) == pages  # each page starts with a different job
    page.get_by_test_id("prev").click()
    expect(info).to_have_text(f"page {pages - 1} · jobs {BULK_JOBS - 999}\u2013{BULK_JOBS - 500}")


def test_event_stream_announces_transitions(cluster: Cluster) -> None:
    kinds: list[str] = []
    with httpx.stream("GET", cluster.url + "/api/v1/events", timeout=10) as stream:
        lines = stream.iter_lines()
        assert next(lines).startswith("retry:")
        job = cluster.submit({"task": "rota.echo", "args": ["sse"]})
        deadline = time.monotonic() + 10
        for line in lines:
            if line.startswith("event: "):
                kinds.append(line.removeprefix("event: "))
            if line.startswith("data: ") and job["id"] in line and '"succeeded"' in line:
                break
            assert time.monotonic() < deadline, f"no succeeded notice; saw {kinds}"
    assert "job" in kinds
    wait_for(lambda: cluster.job(job["id"])["state"] == "succeeded", what="the echo job")


def test_schedule_created_previewed_paused_triggered_and_deleted(
    cluster: Cluster, page: Page, console: Console
) -> None:
    page.goto(cluster.url + "/schedules/new")
    page.fill("#name", "every-five")
    page.fill("#task", "rota.echo")
    page.fill("#cron", "*/5 * * * *")
    preview = page.get_by_test_id("preview").locator("li")
    expect(preview).to_have_count(5)
    expect(preview.first).to_contain_text(":")
    page.get_by_role("button", name="Create").click()
    expect(page).to_have_url(re.compile(r"/schedules$"))
    row = page.locator("[data-schedule]", has_text="every-five")
    expect(row.locator(".badge")).to_have_text("active")
    row.get_by_role("button", name="Pause").click()
    expect(row.locator(".badge")).to_have_text("paused")
    row.get_by_role("button", name="Resume").click()
    expect(row.locator(".badge")).to_have_text("active")
    row.get_by_role("button", name="Trigger").click()
    wait_for(
        lambda: any(
            j["task"] == "rota.echo" and j["schedule_id"]
            for j in cluster.get("/api/v1/jobs")["jobs"]
        ),
        what="the triggered occurrence",
    )
    page.once("dialog", lambda dialog: dialog.accept())
    row.get_by_role("button", name="Delete").click()
    expect(row).to_have_count(0)
    names = [schedule["name"] for schedule in cluster.get("/api/v1/schedules")["schedules"]]
    assert "every-five" not in names
    assert console.errors == []


def test_an_empty_new_schedule_form_asks_for_no_preview(
    cluster: Cluster, page: Page, console: Console
) -> None:
    page.goto(cluster.url + "/schedules/new")
    hint = page.get_by_test_id("preview-note")
    expect(hint).to_have_text("Give a cron expression or an interval to see when it fires.")
    # A hint, not a fire time: it is no item of the numbered list ("1. Give a ...").
    expect(page.get_by_test_id("preview").locator("li")).to_have_count(0)
    assert console.errors == []  # no preview request the server had to refuse


def test_a_refused_draft_says_why_outside_the_list_of_fire_times(
    cluster: Cluster, page: Page
) -> None:
    page.goto(cluster.url + "/schedules/new")
    page.fill("#cron", "61 * * * *")
    expect(page.get_by_test_id("preview-note")).to_contain_text("out of range")
    expect(page.get_by_test_id("preview").locator("li")).to_have_count(0)


def test_schedule_edited_with_a_fresh_preview(
    cluster: Cluster, page: Page, console: Console
) -> None:
    created = cluster.request(
        "POST",
        "/api/v1/schedules",
        json={"name": "to-edit", "task": "rota.echo", "cron": "0 3 * * *", "tz": "UTC"},
    )
    assert created.status_code == 201, created.text
    page.goto(f"{cluster.url}/schedules/{created.json()['id']}")
    expect(page.locator("#cron")).to_have_value("0 3 * * *")
    page.fill("#cron", "30 4 * * *")
    preview = page.get_by_test_id("preview").locator("li")
    expect(preview.first).to_contain_text("04:30")
    page.get_by_role("button", name="Save").click()
    wait_for(
        lambda: cluster.get("/api/v1/schedules/to-edit")["cron"] == "30 4 * * *",
        what="the edited cron expression to be stored",
    )
    cluster.request("DELETE", "/api/v1/schedules/to-edit")
    assert console.errors == []


def test_drain_button_drains_the_worker(cluster: Cluster, page: Page, console: Console) -> None:
    drainee = cluster.start_worker("drainee", concurrency=1)
    page.goto(cluster.url + "/workers")
    expect(page.locator("[data-worker=drainee] .badge")).to_have_text("online")
    page.get_by_test_id("drain-drainee").click()
    assert drainee.wait(timeout=30) == 0, "a drained worker finishes and exits cleanly"
    expect(page.locator("[data-worker=drainee] .badge")).to_have_text("offline", timeout=10_000)
    assert console.errors == []


@pytest.mark.parametrize(
    ("typed", "meant"),
    [
        ("2027-03-28T02:30:00", "2027-03-28T01:00:00+00:00"),  # skipped: when the gap ends
        ("2027-10-31T02:30:00", "2027-10-31T00:30:00+00:00"),  # repeated: the first pass
        ("2027-07-01T12:00:00", "2027-07-01T10:00:00+00:00"),
    ],
)
def test_a_local_run_at_is_read_by_the_schedules_rule(
    cluster: Cluster, browser: Browser, typed: str, meant: str
) -> None:
    job = cluster.submit({"task": "rota.echo", "delay": 3600})
    context = browser.new_context(timezone_id="Europe/Berlin")
    try:
        page = context.new_page()
        page.goto(f"{cluster.url}/jobs/{job['id']}")
        page.locator("input[name=run_at]").fill(typed)
        page.get_by_test_id("save").click()
        wait_for(lambda: cluster.job(job["id"])["run_at"] == meant, 30, f"run_at {meant}")
    finally:
        context.close()


def test_the_run_at_field_shows_the_offset_of_run_at_not_of_today(
    cluster: Cluster, browser: Browser
) -> None:
    # One of the two differs from today's offset in Berlin, whatever today is.
    winter = cluster.submit({"task": "rota.echo", "run_at": "2030-01-15T12:00:00Z"})
    summer = cluster.submit({"task": "rota.echo", "run_at": "2030-07-15T12:00:00Z"})
    context = browser.new_context(timezone_id="Europe/Berlin")
    try:
        page = context.new_page()
        for job, shown in ((winter, "2030-01-15T13:00"), (summer, "2030-07-15T14:00")):
            page.goto(f"{cluster.url}/jobs/{job['id']}")
            expect(page.locator("input[name=run_at]")).to_have_value(re.compile(f"^{shown}"))
    finally:
        context.close()


def test_jobs_stored_with_odd_values_still_show(
    cluster: Cluster, page: Page, console: Console
) -> None:
    """A job an older version stored with a lone surrogate and 252 levels of nesting: the
    list and the job page show it (escaped, the deep part replaced by a note)."""
    deep: Any = "bottom"
    for _ in range(252):
        deep = [deep]

    async def store_old_job() -> str:
        store = open_store(str(cluster.db))
        await store.open()
        try:
            spec = JobSpec(
                task="rota.echo",
                queue="old",
                args=["caf\udce9", deep],
                run_at=datetime.now(UTC) + timedelta(days=1),
            )
            [job] = await store.submit([spec])
            return job.id
        finally:
            await store.close()

    with ThreadPoolExecutor(1) as thread:  # Playwright's loop runs in this one
        job_id = thread.submit(asyncio.run, store_old_job()).result()
    page.goto(cluster.url + "/jobs?queue=old")
    expect(page.locator("[data-job]")).to_have_count(1)
    page.goto(f"{cluster.url}/jobs/{job_id}")
    arguments = page.locator("pre", has_text="nested deeper than 64 levels: not shown")
    expect(arguments).to_contain_text('"caf\\\\udce9"')  # the escape, shown as JSON
    assert console.errors == []
