"""The Reminders page and the devices on the Workers page, in a real headless Chromium: what
each device holds and waits for, what rang (on time or late) or expired, snooze and dismiss,
live without reloads, and the layout at phone and desktop widths."""

from __future__ import annotations

import re
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.conftest import TIMEOUT_MS, Console, screenshot
from tests.dashboard.fake_device import FakeDevice
from tests.dashboard.test_layout import WIDTHS, overflow
from tests.e2e.conftest import Cluster, wait_for

CLOCK_AHEAD_S = 2.5


def remind(cluster: Cluster, text: str, device: str, **more: Any) -> dict[str, Any]:
    body = {"task": "rota.remind", "kwargs": {"text": text}, "queue": "reminders"}
    return dict(cluster.submit({**body, "target": f"device:{device}", **more}))


@pytest.fixture(scope="module")
def laptop(cluster: Cluster) -> Iterator[FakeDevice]:
    device = FakeDevice(cluster.url, "laptop", clock_ahead_s=CLOCK_AHEAD_S)
    device.start()
    try:
        yield device
    finally:
        device.stop()


@pytest.fixture(scope="module")
def seeded(cluster: Cluster, laptop: FakeDevice) -> dict[str, Any]:
    """A held reminder, a waiting one, one rung on time, one rung late, one expired."""
    held = remind(cluster, "Stand-up in the big room", "laptop")
    waiting = remind(cluster, "Dentist", "laptop", delay=7200)
    on_time = remind(cluster, "Tea", "laptop")
    late = remind(cluster, "Water the plants", "laptop")
    deadline = (datetime.now(UTC) + timedelta(seconds=1)).isoformat()
    expired = remind(cluster, "Attic light", "attic", deadline=deadline)
    for job in (held, on_time, late):
        wait_for(lambda job=job: laptop.holds(job["id"]), 30, f"the laptop to hold {job['id']}")
    laptop.ring(on_time["id"], on_time["run_at"], 0.04)
    laptop.ring(late["id"], late["run_at"], 42.0)
    for job in (on_time, late, expired):
        cluster.wait_finished(job["id"])
    return {"held": held, "waiting": waiting, "on_time": on_time, "late": late, "expired": expired}


def row(page: Page, where: str, job: dict[str, Any]) -> Any:
    return page.locator(f"{where} tr[data-reminder='{job['id']}']")


def test_reminders_page_shows_upcoming_per_device_and_what_rang(
    page: Page, console: Console, cluster: Cluster, seeded: dict[str, Any]
) -> None:
    page.goto(cluster.url + "/reminders")
    laptop = page.locator("section[data-device=laptop]")
    expect(laptop.locator(".group-head")).to_contain_text("online")
    expect(laptop.locator(".group-head")).to_contain_text("1 held · 1 waiting")
    expect(row(page, "section[data-device=laptop]", seeded["held"])).to_contain_text("held")
    waiting = row(page, "section[data-device=laptop]", seeded["waiting"])
    expect(waiting).to_contain_text("Dentist")
    expect(waiting).to_contain_text("waiting")
    expect(waiting).to_contain_text(re.compile(r"in (1 h 59 min|2 h 0 min)"))
    history = "[data-testid=history-table]"
    on_time = row(page, history, seeded["on_time"])
    expect(on_time).to_have_attribute("data-outcome", "succeeded")
    expect(on_time).to_contain_text("rung")
    expect(on_time).to_contain_text("40 ms late")
    late = row(page, history, seeded["late"])
    expect(late).to_have_attribute("data-outcome", "late")
    expect(late).to_contain_text("rung late")
    expect(late).to_contain_text("42 s after its time")
    expected = datetime.fromisoformat(seeded["late"]["run_at"]) + timedelta(seconds=42)
    shown = late.locator("td").nth(4).locator("time").get_attribute("datetime")
    assert shown is not None and datetime.fromisoformat(shown) == expected
    expired = row(page, history, seeded["expired"])
    expect(expired).to_have_attribute("data-outcome", "expired")
    expect(expired).to_contain_text("attic")
    expect(page.locator("[data-testid=rung-late] .value")).to_have_text("1")
    assert console.errors == []


def test_snooze_and_dismiss_from_the_page(
    page: Page, console: Console, cluster: Cluster, seeded: dict[str, Any]
) -> None:
    bins = remind(cluster, "Bins out", "laptop", delay=3600)
    mum = remind(cluster, "Call mum", "laptop", delay=3600)
    page.goto(cluster.url + "/reminders")
    group = "section[data-device=laptop]"
    expect(row(page, group, bins)).to_be_visible()
    page.get_by_test_id(f"dismiss-{bins['id']}").click()
    expect(row(page, group, bins)).to_have_count(0)
    expect(row(page, "[data-testid=history-table]", bins)).to_have_attribute(
        "data-outcome", "cancelled"
    )
    assert cluster.job(bins["id"])["state"] == "cancelled"

    page.get_by_test_id(f"snooze-minutes-{mum['id']}").select_option("15")
    page.get_by_test_id(f"snooze-{mum['id']}").click()
    expect(row(page, group, mum)).to_have_count(0)
    expect(row(page, "[data-testid=history-table]", mum)).to_have_attribute(
        "data-outcome", "snoozed"
    )
    [made] = cluster.all_jobs(search=f"snooze:{mum['id']}")
    assert made["kwargs"] == {"text": "Call mum"} and made["target"] == "device:laptop"
    # Not rung yet: put off 15 minutes from its own due moment, not from now.
    put_off = datetime.fromisoformat(made["run_at"]) - datetime.fromisoformat(mum["run_at"])
    assert put_off == timedelta(minutes=15)
    snoozed = row(page, group, {"id": made["id"]})
    expect(snoozed).to_contain_text("Call mum")
    expect(snoozed).to_contain_text(re.compile(r"in 1 h 1[45] min"))
    assert console.errors == []


def test_reminders_come_and_ring_without_a_reload(
    page: Page, console: Console, cluster: Cluster, laptop: FakeDevice, seeded: dict[str, Any]
) -> None:
    page.goto(cluster.url + "/reminders")
    expect(page.locator("#live")).to_have_text("live")
    page.evaluate("window.__same_page = true")
    fresh = remind(cluster, "Stretch", "laptop")
    group = "section[data-device=laptop]"
    expect(row(page, group, fresh)).to_contain_text("held")
    laptop.ring(fresh["id"], fresh["run_at"], 0.0)
    expect(row(page, group, fresh)).to_have_count(0)
    expect(row(page, "[data-testid=history-table]", fresh)).to_have_attribute(
        "data-outcome", "succeeded"
    )
    assert page.evaluate("window.__same_page") is True
    assert console.errors == []


def test_workers_page_shows_the_devices(
    page: Page, console: Console, cluster: Cluster, seeded: dict[str, Any]
) -> None:
    page.goto(cluster.url + "/workers")
    devices = page.get_by_test_id("devices-table")
    laptop = devices.locator("tr[data-device=laptop]")
    expect(laptop).to_contain_text("online")
    held = sum(1 for job in cluster.all_jobs(state="running") if job["worker"] == "laptop")
    expect(page.get_by_test_id("held-laptop")).to_have_text(str(held))
    expect(page.get_by_test_id("next-laptop")).to_contain_text("Stand-up in the big room")
    # Its heartbeats say its clock runs 2.5 s ahead (less the heartbeat's transit time).
    expect(page.get_by_test_id("offset-laptop")).to_have_text(re.compile(r"^\+2\.[345] s$"))
    expect(page.get_by_test_id("device-badge-laptop")).to_have_text("device")
    expect(page.get_by_test_id("device-badge-w1")).to_have_count(0)
    expect(devices.locator("tr[data-device=w1]")).to_have_count(0)
    assert console.errors == []


@pytest.mark.parametrize("width", WIDTHS)
@pytest.mark.parametrize(
    ("name", "path", "ready"),
    [
        ("reminders", "/reminders", "[data-testid=history-table]"),
        ("workers-devices", "/workers", "[data-testid=devices-table]"),
    ],
)
def test_reminder_pages_fit_the_width(
    width: int,
    name: str,
    path: str,
    ready: str,
    browser: Browser,
    cluster: Cluster,
    seeded: dict[str, Any],
) -> None:
    context = browser.new_context(viewport={"width": width, "height": 800})
    console = Console()
    page = context.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    page.on("console", console.message)
    page.on("pageerror", console.exception)
    try:
        page.goto(cluster.url + path)
        expect(page.locator(ready).first).to_be_visible()
        expect(page.locator("#live")).to_have_text("live")
        screenshot(page, f"{name}-{width}")  # before the checks, to see what failed
        scroll = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
        assert scroll[0] <= scroll[1], f"{name} at {width}px scrolls sideways: {scroll}"
        assert overflow(page) == [], f"{name} at {width}px cuts off elements"
        assert console.errors == []
    finally:
        context.close()
