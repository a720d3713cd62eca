"""Every page at phone and desktop widths: no sideways scrolling, nothing cut off.

Each page is drawn with real data at 360 px and 390 px (common phones) and at 1280 px, and
saved as build/screenshots/<page>-<width>.png for people to look at.
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Iterator
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.conftest import TIMEOUT_MS, Console, screenshot
from tests.e2e.conftest import Cluster

WIDTHS = (360, 390, 1280)
KEY_ELEMENTS = (
    "header .brand, header nav a, #live, #zone, main h1, main .card, main th, main td,"
    " main input:not([type=checkbox]), main select, main textarea, main button, .chart svg"
)
"""What must lie inside the viewport's width (a scrollable table's cells count too)."""


@pytest.fixture(scope="module")
def seeded(cluster: Cluster) -> dict[str, Any]:
    """A finished job, a pending job, a failed job and a schedule, for every page to show."""
    done = cluster.submit(
        {"task": "dash.chatty", "args": ["layout " * 6], "kwargs": {"seconds": 0.05}}
    )
    failed = cluster.submit({"task": "rota.fail", "args": ["no"], "max_attempts": 1})
    cluster.submit({"task": "rota.echo", "args": [{"nested": [1, 2, 3]}], "delay": 3600})
    cluster.submit({"task": "rota.echo", "queue": "a-rather-long-queue-name-nobody-serves"})
    created = cluster.request(
        "POST",
        "/api/v1/schedules",
        json={
            "name": "nightly-layout-report",
            "task": "rota.echo",
            "cron": "0 3 * * *",
            "tz": "Europe/Berlin",
        },
    )
    assert created.status_code == 201, created.text
    cluster.request("POST", "/api/v1/schedules/nightly-layout-report/trigger")
    cluster.wait_finished(done["id"])
    cluster.wait_finished(failed["id"])
    return {"job": done["id"], "failed": failed["id"], "schedule": "nightly-layout-report"}


PAGES: dict[str, tuple[Callable[[dict[str, Any]], str], str]] = {
    "overview": (lambda s: "/", ".chart svg"),
    "jobs": (lambda s: "/jobs", "[data-testid=jobs-table]"),
    "job": (lambda s: f"/jobs/{s['job']}", "[data-testid=log]"),
    "job-failed": (lambda s: f"/jobs/{s['failed']}", "[data-testid=error]"),
    "schedules": (lambda s: "/schedules", "[data-testid=schedules-table]"),
    "schedule": (lambda s: f"/schedules/{s['schedule']}", "[data-testid=runs]"),
    "schedule-new": (lambda s: "/schedules/new", "[data-testid=preview-note]"),
    "workers": (lambda s: "/workers", "[data-testid=workers-table]"),
    "worker": (lambda s: "/workers/w1", "[data-testid=resources]"),
    "tasks": (lambda s: "/tasks", "[data-testid=tasks-table]"),
    "submit": (lambda s: "/submit", "[data-testid=submit]"),
}


@pytest.fixture(scope="module", params=WIDTHS, ids=lambda w: f"{w}px")
def sized(request: pytest.FixtureRequest, browser: Browser) -> Iterator[tuple[int, Any]]:
    width: int = request.param
    context = browser.new_context(viewport={"width": width, "height": 800})
    try:
        yield width, context
    finally:
        context.close()


def overflow(page: Page) -> list[str]:
    """The key elements that reach past the viewport's left or right edge."""
    found: list[str] = page.evaluate(
        """(selector) => {
          const width = window.innerWidth;
          const out = [];
          for (const el of document.querySelectorAll(selector)) {
            const box = el.getBoundingClientRect();
            if (box.width === 0 && box.height === 0) continue;  // not shown
            if (box.left < -0.5 || box.right > width + 0.5) {
              const text = (el.textContent || "").trim().slice(0, 30);
              out.push(`${el.tagName} "${text}" ${Math.round(box.left)}..${Math.round(box.right)}`);
            }
          }
          return out;
        }""",
        KEY_ELEMENTS,
    )
    return found


@pytest.mark.parametrize("name", list(PAGES))
def test_page_fits_the_width(
    name: str, seeded: dict[str, Any], sized: tuple[int, Any], cluster: Cluster
) -> None:
    width, context = sized
    path, ready = PAGES[name]
    console = Console()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", console.message)
    page.on("pageerror", console.exception)
    try:
        page.goto(cluster.url + path(seeded))
        expect(page.locator(ready).first).to_be_visible()
        expect(page.locator("#live")).to_have_text("live")
        scroll = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert scroll[0] <= scroll[1], f"{name} at {width}px scrolls sideways: {scroll}"
        assert overflow(page) == [], f"{name} at {width}px cuts off elements"
        screenshot(page, f"{name}-{width}")
        assert console.errors == []
    finally:
        page.close()


def test_chart_labels_keep_their_shape_on_a_phone(
    seeded: dict[str, Any], browser: Browser, cluster: Cluster
) -> None:
    """The chart is drawn at its real width: a label is as wide as the same text elsewhere."""
    context = browser.new_context(viewport={"width": 360, "height": 800})
    try:
        page = context.new_page()
        page.goto(cluster.url + "/")
        ticks = page.locator(".chart svg text")
        expect(ticks.first).to_be_visible()
        shapes = page.evaluate(
            """() => [...document.querySelectorAll('.chart svg text')].map((t) => {
                 const box = t.getBoundingClientRect();
                 return [box.width, box.height, t.textContent];
               })"""
        )
        for box_width, box_height, text in shapes:
            # Squashed text is many times wider than tall per character, or far narrower.
            per_char = box_width / max(1, len(text))
            assert 3 <= per_char <= 12, f"label {text!r} is {box_width}x{box_height}"
        boxes = page.evaluate(
            """() => [...document.querySelectorAll('.chart svg text.tick')]
                 .map((t) => t.getBoundingClientRect()).map((b) => [b.left, b.right])"""
        )
        for (_, right), (left, _) in itertools.pairwise(boxes):
            assert right <= left, f"x-axis labels overlap: {boxes}"
    finally:
        context.close()
