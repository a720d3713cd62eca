"""Finding and acting on jobs: search, warnings, attempts, retries, per-task figures, a
worker's page and a schedule's runs, in a real browser against a real server."""

from __future__ import annotations

import re

from playwright.sync_api import Page, expect

from tests.dashboard.conftest import Console, screenshot
from tests.e2e.conftest import Cluster, wait_for


def test_the_short_id_and_text_in_args_find_a_job(
    cluster: Cluster, page: Page, console: Console
) -> None:
    job = cluster.submit({"task": "rota.echo", "queue": "searched", "args": ["needle-4711"]})
    cluster.submit({"task": "rota.echo", "queue": "searched", "args": ["hay"]})
    page.goto(cluster.url + "/jobs?queue=searched")
    table = page.get_by_test_id("jobs-table")
    expect(table.locator("[data-job]")).to_have_count(2)
    short = table.locator(f"[data-job='{job['id']}'] td[data-label=Job]").inner_text()
    page.get_by_test_id("search").fill(short)
    page.get_by_test_id("search").press("Enter")
    expect(table.locator("[data-job]")).to_have_count(1)
    expect(table.locator(f"[data-job='{job['id']}']")).to_have_count(1)
    page.get_by_test_id("search").fill("NEEDLE-47")
    page.get_by_test_id("search").press("Enter")
    expect(table.locator(f"[data-job='{job['id']}']")).to_have_count(1)
    expect(table.locator("[data-job]")).to_have_count(1)
    assert "search=NEEDLE-47" in page.url  # the address keeps the search, to share it
    assert console.errors == []


def test_a_pending_job_no_worker_can_run_says_why(
    cluster: Cluster, page: Page, console: Console
) -> None:
    job = cluster.submit({"task": "rota.echo", "target": "nosuch", "queue": "warned"})
    page.goto(cluster.url + "/jobs?queue=warned")
    expect(page.locator(f"[data-job='{job['id']}']").get_by_test_id("warning")).to_contain_text(
        "nosuch"
    )
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    expect(page.get_by_test_id("warning")).to_contain_text("nosuch")
    cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert console.errors == []


def test_every_attempt_keeps_its_own_error(cluster: Cluster, page: Page, console: Console) -> None:
    fast = {"base_s": 0.01, "max_s": 0.01, "jitter": 0}
    job = cluster.submit(
        {"task": "rota.fail", "args": ["twice"], "max_attempts": 2, "backoff": fast}
    )
    cluster.wait_finished(job["id"])
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    attempts = page.get_by_test_id("attempts")
    expect(attempts.locator("tbody tr")).to_have_count(2)
    expect(attempts.get_by_test_id("attempt-error")).to_have_count(2)
    assert console.errors == []


def test_retry_with_edited_arguments(cluster: Cluster, page: Page, console: Console) -> None:
    job = cluster.submit({"task": "dash.chatty", "args": ["first"], "delay": 3600})
    cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    page.goto(f"{cluster.url}/jobs/{job['id']}")
    page.get_by_test_id("retry-edited").locator("summary").click()
    page.fill("#retry-args", '["edited"]')
    page.fill("#retry-kwargs", '{"seconds": 0.05}')
    page.get_by_test_id("retry-with-args").click()
    expect(page.get_by_test_id("state")).to_have_text("succeeded")
    assert cluster.job(job["id"])["result"] == "detide"
    assert console.errors == []


def test_retry_all_failed_jobs_of_a_task(cluster: Cluster, page: Page, console: Console) -> None:
    failed = [
        cluster.submit({"task": "rota.fail", "args": [n], "max_attempts": 1, "queue": "metrics"})
        for n in range(3)
    ]
    for job in failed:
        assert cluster.wait_finished(job["id"])["state"] == "failed"
    page.goto(cluster.url + "/jobs?state=failed&task=rota.fail")
    button = page.get_by_test_id("retry-all")
    expect(button).to_have_text("Retry all failed rota.fail")
    button.click()
    for job in failed:
        wait_for(
            lambda job=job: cluster.job(job["id"])["prior_attempts"] >= 1, what="a retried job"
        )
    assert console.errors == []


def test_the_tasks_page_shows_figures_per_task(
    cluster: Cluster, page: Page, console: Console
) -> None:
    done = cluster.submit({"task": "dash.chatty", "args": ["stats"], "kwargs": {"seconds": 0.05}})
    cluster.wait_finished(done["id"])
    page.goto(cluster.url + "/")
    page.get_by_role("link", name="Tasks", exact=True).click()
    row = page.locator("[data-task='dash.chatty']")
    expect(row.locator("td[data-label=Succeeded]")).not_to_have_text("0")
    expect(row.locator("td[data-label='Run p50']")).to_have_text(re.compile(r"\d"))
    page.get_by_test_id("window").select_option("24h")
    expect(page).to_have_url(re.compile(r"/tasks\?window=24h$"))
    expect(page.locator("[data-task='dash.chatty']")).to_have_count(1)
    page.locator("[data-task='dash.chatty'] td[data-label='Failure rate']").click()
    expect(page).to_have_url(re.compile(r"/jobs\?task=dash\.chatty$"))
    assert console.errors == []


def test_a_workers_page_shows_its_jobs_tasks_and_figures(
    cluster: Cluster, page: Page, console: Console
) -> None:
    job = cluster.submit({"task": "dash.steps", "args": [1, 30]})
    wait_for(lambda: cluster.job(job["id"])["state"] == "running", what="the job to run")
    try:
        page.goto(cluster.url + "/workers")
        # The worker's own figures beside the host's: "Process CPU / RSS".
        expect(page.get_by_test_id("process-w1")).to_contain_text(re.compile(r"RSS \d"))
        page.locator("[data-worker=w1] td[data-label=Queues]").click()
        expect(page).to_have_url(re.compile(r"/workers/w1$"))
        expect(page.get_by_test_id("state")).to_have_text("online")
        expect(
            page.get_by_test_id("running-jobs").locator(f"[data-job='{job['id']}']")
        ).to_have_count(1)
        expect(page.get_by_test_id("recent-jobs")).to_contain_text("dash.steps")
        expect(page.get_by_test_id("worker-tasks")).to_contain_text("dash.chatty")
        expect(page.get_by_test_id("resources")).to_contain_text("CPU")
        expect(page.get_by_test_id("resources")).to_contain_text("Process CPU")
        expect(page.get_by_test_id("process")).to_contain_text(
            re.compile(r"\d+%? / [\d.]+ \w?B \(host")
        )
    finally:
        cluster.request("DELETE", f"/api/v1/jobs/{job['id']}")
    assert console.errors == []


def test_a_schedules_page_lists_its_runs_and_leads_to_its_jobs(
    cluster: Cluster, page: Page, console: Console
) -> None:
    created = cluster.request(
        "POST",
        "/api/v1/schedules",
        json={"name": "run-lister", "task": "rota.echo", "interval": 3600, "queue": "runs"},
    )
    assert created.status_code == 201, created.text
    for _ in range(2):
        cluster.request("POST", "/api/v1/schedules/run-lister/trigger")
    try:
        page.goto(cluster.url + "/schedules/run-lister")
        runs = page.get_by_test_id("runs")
        expect(runs.locator("tbody tr")).to_have_count(2)
        expect(runs).to_contain_text("triggered by hand")
        page.get_by_test_id("its-jobs").click()
        expect(page).to_have_url(re.compile(r"/jobs\?schedule=run-lister$"))
        expect(page.locator("[data-job]")).to_have_count(2)
    finally:
        cluster.request("DELETE", "/api/v1/schedules/run-lister")
    assert console.errors == []


def test_a_phone_sorts_jobs_with_a_select(cluster: Cluster, page: Page, console: Console) -> None:
    """At 390 px the table's headers are hidden; a select in the toolbar sorts instead."""
    for task in ("rota.echo", "dash.chatty", "rota.sha256"):
        cluster.submit({"task": task, "queue": "phonesort", "delay": 3600})
    page.set_viewport_size({"width": 390, "height": 800})
    page.goto(cluster.url + "/jobs?queue=phonesort")
    rows = page.get_by_test_id("jobs-table").locator("tbody tr")
    expect(rows).to_have_count(3)
    expect(page.get_by_test_id("jobs-table").locator("thead")).to_be_hidden()
    choice = page.get_by_test_id("sort")
    expect(choice).to_be_visible()
    choice.select_option(label="Task, A to Z")
    expect(page).to_have_url(re.compile(r"sort=task&order=asc"))
    tasks = rows.locator("td[data-label=Task]")
    expect(tasks).to_have_text(["dash.chatty", "rota.echo", "rota.sha256"])
    choice.select_option(label="Task, Z to A")
    expect(tasks).to_have_text(["rota.sha256", "rota.echo", "dash.chatty"])
    screenshot(page, "jobs-sorted-390")
    # The choice survives a reload, and a wide window sorts by its headers instead.
    page.reload()
    expect(page.get_by_test_id("sort")).to_have_value("task:desc")
    page.set_viewport_size({"width": 1280, "height": 800})
    expect(page.get_by_test_id("sort")).to_be_hidden()
    assert console.errors == []
