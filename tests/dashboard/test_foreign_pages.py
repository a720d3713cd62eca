"""A web page of another origin, opened in a real browser, cannot drive the server: neither
by the requests browsers send anywhere without asking (CSRF), nor through a name of its own
that resolves to the server's address (DNS rebinding)."""

from __future__ import annotations

import contextlib
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from playwright.sync_api import Browser

from tests.dashboard.conftest import CHROMIUM, CHROMIUM_ARGS, TIMEOUT_MS
from tests.e2e.conftest import Cluster

FOREIGN_HOST = "127.0.0.2"
"""Another address of this machine (all of 127.0.0.0/8 is loopback): another origin."""

ATTACK = """<!doctype html>
<title>loading</title>
<iframe name="sink"></iframe>
<form id="form" method="POST" action="{rota}/api/v1/jobs" enctype="text/plain" target="sink">
  <input name='{{"task": "rota.echo", "args": ["csrf-form"], "x": "' value='"}}'>
</form>
<script>
  const rota = "{rota}";
  const body = JSON.stringify({{task: "rota.echo", args: ["csrf-fetch"]}});
  async function attack() {{
    const sent = [
      fetch(rota + "/api/v1/jobs", {{method: "POST", mode: "no-cors", body,
        headers: {{"content-type": "text/plain"}}}}),
      fetch(rota + "/api/v1/jobs", {{method: "POST", mode: "no-cors",
        body: new Blob([body])}}),
      fetch(rota + "/api/v1/jobs", {{method: "POST", body,
        headers: {{"content-type": "application/json"}}}}),
    ];
    for (const request of sent) {{ try {{ await request; }} catch (e) {{}} }}
    document.getElementById("form").submit();
    setTimeout(() => {{ document.title = "done"; }}, 1000);
  }}
  attack();
</script>
"""


@contextlib.contextmanager
def foreign_site(page: str) -> Iterator[str]:
    """Serve `page` at / from another origin; yield its URL."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            body = page.encode()
            self.send_response(200)
            self.send_header("content-type", "text/html; charset=utf-8")
            self.send_header("content-length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:
            pass

    server = ThreadingHTTPServer((FOREIGN_HOST, 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"http://{FOREIGN_HOST}:{server.server_address[1]}/"
    finally:
        server.shutdown()
        server.server_close()


def submitted_args(cluster: Cluster) -> list[object]:
    return [job["args"] for job in cluster.get("/api/v1/jobs", params={"limit": 500})["jobs"]]


def test_a_foreign_page_cannot_submit_jobs(cluster: Cluster, browser: Browser) -> None:
    context = browser.new_context()
    try:
        page = context.new_page()
        page.set_default_timeout(TIMEOUT_MS)
        with foreign_site(ATTACK.format(rota=cluster.url)) as url:
            page.goto(url)
            page.wait_for_function("document.title === 'done'")
            page.wait_for_load_state("load")
    finally:
        context.close()
    time.sleep(0.5)  # a request the server took would be stored by now
    sent = {"csrf-form", "csrf-fetch"}
    assert not [args for args in submitted_args(cluster) if set(map(str, args)) & sent]


@pytest.fixture
def rebinding_browser(browser: Browser) -> Iterator[Browser]:
    """A Chromium that resolves evil.example to this machine, as DNS rebinding makes it."""
    launched = browser.browser_type.launch(
        executable_path=str(CHROMIUM),
        headless=True,
        args=[*CHROMIUM_ARGS, "--host-resolver-rules=MAP evil.example 127.0.0.1"],
    )
    try:
        yield launched
    finally:
        launched.close()


def test_a_rebound_name_gets_nothing_from_the_server(
    cluster: Cluster, rebinding_browser: Browser
) -> None:
    page = rebinding_browser.new_page()
    page.set_default_timeout(TIMEOUT_MS)
    response = page.goto(f"http://evil.example:{cluster.port}/")
    assert response is not None and response.status == 400
    assert "HostNotAllowed" in page.content() and "allowed_hosts" in page.content()
    api = page.goto(f"http://evil.example:{cluster.port}/api/v1/jobs")
    assert api is not None and api.status == 400
