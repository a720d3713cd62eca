"""Signing in to the dashboard of a server that wants tokens, in a real browser: the sign-in
page, a wrong token, the jobs page after a right one, the token nowhere the page's scripts or
address can reach, a read token's disabled controls, and signing out."""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from playwright.sync_api import Browser, Page, expect

from tests.dashboard.conftest import Console, screenshot
from tests.e2e.conftest import Cluster, wait_for

SECRET = re.compile(r"rota_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")
TRACK_STREAMS = """
window.__streams = [];
const Original = window.EventSource;
window.EventSource = class extends Original {
  constructor(...args) { super(...args); window.__streams.push(this); }
};
"""
"""Run before the app: keeps every EventSource it opens, so a test can see which are open."""


@dataclass(frozen=True)
class Tokens:
    admin: str
    client: str
    read: str
    worker: str


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A server that wants tokens (not --anonymous), and a worker with a worker token."""
    made = Cluster(tmp_path_factory.mktemp("sign-in"), anonymous=False)
    try:
        made.start_server()
        log = (made.tmp_path / f"server-{made.port}.log").read_text()
        [made.token] = SECRET.findall(log)  # the first start's admin token
        worker = make_token(made, "w1", "worker")
        made.start_worker("w1", env={"ROTA_TOKEN": worker})
        yield made
    finally:
        made.stop()


@pytest.fixture(scope="module")
def tokens(cluster: Cluster) -> Tokens:
    assert cluster.token is not None
    return Tokens(
        admin=cluster.token,
        client=make_token(cluster, "ops", "client"),
        read=make_token(cluster, "viewer", "read"),
        worker=make_token(cluster, "w2", "worker"),
    )


@pytest.fixture
def page(browser: Browser, console: Console) -> Iterator[Page]:
    """A page whose EventSources are kept in window.__streams."""
    context = browser.new_context(viewport={"width": 1400, "height": 900})
    context.add_init_script(TRACK_STREAMS)
    opened = context.new_page()
    opened.on("pageerror", console.exception)
    try:
        yield opened
    finally:
        context.close()


def make_token(cluster: Cluster, name: str, role: str) -> str:
    """Make a token with the cluster's (admin) token, and return its secret."""
    response = cluster.request("POST", "/api/v1/tokens", json={"name": name, "role": role})
    assert response.status_code == 201, response.text
    return str(response.json()["secret"])


def sign_in(page: Page, token: str) -> None:
    page.get_by_test_id("token").fill(token)
    page.get_by_test_id("sign-in").click()


def open_streams(page: Page) -> int:
    return int(page.evaluate("window.__streams.filter((s) => s.readyState !== 2).length"))


def api_status(page: Page, path: str) -> int:
    return int(page.evaluate("(path) => fetch(path).then((r) => r.status)", path))


def test_sign_in_with_a_wrong_then_a_right_token_and_out_again(
    cluster: Cluster, tokens: Tokens, page: Page, console: Console
) -> None:
    cluster.token = tokens.client
    job = cluster.submit({"task": "rota.echo", "args": ["signed"]})
    cluster.wait_finished(job["id"])

    page.goto(f"{cluster.url}/jobs?task=rota.echo")
    form = page.get_by_test_id("sign-in-form")
    expect(form).to_be_visible()
    expect(page.get_by_test_id("token")).to_have_attribute("type", "password")
    expect(page.get_by_role("link", name="Jobs")).to_be_hidden()
    assert open_streams(page) == 0  # nothing to follow before signing in

    sign_in(page, tokens.client[:-4] + "AAAA")
    expect(page.get_by_test_id("sign-in-problem")).to_contain_text("unknown or revoked")
    expect(page.get_by_test_id("token")).to_have_value("")
    expect(page.locator("main")).not_to_contain_text("null")
    screenshot(page, "sign-in-wrong-token")
    sign_in(page, tokens.worker)  # may not read: turned away, and not left signed in
    expect(page.get_by_test_id("sign-in-problem")).to_contain_text("worker token")
    assert page.context.cookies() == []

    sign_in(page, tokens.client)
    expect(page.get_by_test_id("jobs-table").locator(f"tr[data-job='{job['id']}']")).to_be_visible()
    assert page.url == f"{cluster.url}/jobs?task=rota.echo"  # the page asked for
    expect(page.get_by_test_id("who")).to_have_text("ops · client")
    expect(page.locator("#live")).to_have_text("live")
    assert open_streams(page) == 1

    # The token is in an HttpOnly cookie only: not in the address, storage, cookie or page.
    assert tokens.client not in page.url
    stored = page.evaluate(
        "JSON.stringify([Object.entries(localStorage), Object.entries(sessionStorage)])"
    )
    assert tokens.client not in stored
    assert tokens.client not in page.evaluate("document.cookie")
    assert tokens.client not in page.content()
    [cookie] = page.context.cookies()
    assert cookie["name"] == "rota_session" and cookie["httpOnly"]
    assert cookie["sameSite"] == "Strict"

    page.get_by_test_id("sign-out").click()
    expect(form).to_be_visible()
    expect(page.get_by_test_id("who")).to_be_hidden()
    assert page.context.cookies() == []
    assert api_status(page, "/api/v1/jobs") == 401
    wait_for(lambda: open_streams(page) == 0, 10, "the event stream to stop")
    assert console.errors == []


def test_a_read_token_may_look_but_not_change(
    cluster: Cluster, tokens: Tokens, page: Page, console: Console
) -> None:
    cluster.token = tokens.client
    waiting = cluster.submit({"task": "rota.echo", "args": ["later"], "delay": 3600})

    page.goto(f"{cluster.url}/jobs/{waiting['id']}")
    sign_in(page, tokens.read)
    expect(page.get_by_test_id("who")).to_have_text("viewer · read")
    cancel = page.get_by_test_id("cancel")
    expect(cancel).to_be_disabled()
    expect(cancel).to_have_attribute("title", re.compile(r"role \(read\) may not change jobs"))
    expect(page.get_by_test_id("save")).to_be_disabled()
    screenshot(page, "job-read-only")

    # Were the button enabled anyway, the server's refusal is shown, not swallowed.
    cancel.evaluate("(button) => { button.disabled = false; }")
    cancel.click()
    expect(page.locator(".toast.error")).to_contain_text("role read, which may not")
    assert cluster.job(waiting["id"])["state"] == "pending"

    page.get_by_role("link", name="Submit").click()
    expect(page.get_by_test_id("submit")).to_be_disabled()
    expect(page.get_by_test_id("refused")).to_contain_text("may not change jobs")
    page.get_by_role("link", name="Workers").click()
    expect(page.get_by_test_id("drain-w1")).to_be_disabled()
    page.get_by_role("link", name="Schedules").click()
    expect(page.get_by_role("link", name="New schedule")).to_have_attribute("aria-disabled", "true")
    assert console.errors == []


def test_a_revoked_token_brings_back_the_sign_in_page(
    cluster: Cluster, tokens: Tokens, page: Page
) -> None:
    cluster.token = tokens.admin
    doomed = make_token(cluster, "doomed", "read")
    page.goto(f"{cluster.url}/workers")
    sign_in(page, doomed)
    expect(page.get_by_test_id("who")).to_have_text("doomed · read")
    expect(page.locator("#live")).to_have_text("live")

    revoked = cluster.request("DELETE", f"/api/v1/tokens/{doomed.split('_')[1]}")
    assert revoked.status_code == 200, revoked.text
    # The server closes the stream; coming back, it is refused, and the app asks again.
    expect(page.get_by_test_id("sign-in-note")).to_contain_text("sign in again")
    wait_for(lambda: open_streams(page) == 0, 10, "the event stream to stop")
    sign_in(page, tokens.read)
    expect(page.get_by_test_id("who")).to_have_text("viewer · read")
    expect(page.get_by_test_id("drain-w1")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")


def test_the_sign_in_page_and_the_signed_in_header_fit_a_phone(
    cluster: Cluster, tokens: Tokens, browser: Browser
) -> None:
    cluster.token = tokens.admin
    long_named = make_token(cluster, "night-shift-dashboard-viewer", "read")
    context = browser.new_context(viewport={"width": 360, "height": 740})
    try:
        page = context.new_page()
        page.goto(f"{cluster.url}/")
        expect(page.get_by_test_id("sign-in-form")).to_be_visible()
        assert fits(page), "the sign-in page scrolls sideways at 360 px"
        screenshot(page, "sign-in-360")
        sign_in(page, long_named)
        expect(page.get_by_test_id("who")).to_have_text("night-shift-dashboard-viewer · read")
        expect(page.get_by_test_id("workers-online")).to_be_visible()
        assert fits(page), "the signed-in header scrolls sideways at 360 px"
        for testid in ("who", "sign-out"):
            box = page.get_by_test_id(testid).bounding_box()
            assert box is not None and 0 <= box["x"] and box["x"] + box["width"] <= 360, testid
        screenshot(page, "signed-in-360")
    finally:
        context.close()


def fits(page: Page) -> bool:
    width, inner = page.evaluate("[document.scrollingElement.scrollWidth, window.innerWidth]")
    return bool(width <= inner)


@pytest.fixture(scope="module")
def open_cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """A server with --anonymous (no tokens wanted), no worker."""
    made = Cluster(tmp_path_factory.mktemp("open"))
    try:
        made.start_server()
        yield made
    finally:
        made.stop()


def test_an_anonymous_server_shows_no_sign_in_even_with_a_stale_cookie(
    open_cluster: Cluster, page: Page, console: Console
) -> None:
    page.goto(f"{open_cluster.url}/")
    expect(page.get_by_test_id("workers-online")).to_be_visible()
    expect(page.locator("#live")).to_have_text("live")
    expect(page.get_by_test_id("sign-in-form")).to_have_count(0)
    expect(page.get_by_test_id("who")).to_be_hidden()
    expect(page.get_by_test_id("sign-out")).to_be_hidden()

    # A token presented is judged even here: a revoked one asks to sign in, or to go on without.
    stale = "rota_0123456789ab_" + "A" * 43
    page.context.add_cookies([{"name": "rota_session", "value": stale, "url": open_cluster.url}])
    page.reload()
    expect(page.get_by_test_id("sign-in-form")).to_be_visible()
    page.get_by_test_id("no-token").click()
    expect(page.get_by_test_id("workers-online")).to_be_visible()
    assert page.context.cookies() == []
    assert console.errors == []
