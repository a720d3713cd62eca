"""Two real servers on PostgreSQL behind Debian's nginx, configured by deploy/nginx/rota.conf,
with workers connected through the proxy: long polls at the maximum wait and the event
stream pass through it, the docs' queue-depth query gives the true depth, and a server
killed under single and bulk submissions loses nothing and doubles nothing."""

from __future__ import annotations

import itertools
import os
import re
import signal
import subprocess
import threading
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
from prometheus_client.parser import text_string_to_metric_families

from rota import Client
from rota.server.api.jobs import MAX_WAIT_S
from tests.e2e.conftest import Cluster, free_port, wait_for
from tests.e2e.pg import drop_database, fresh_database, query

ROOT = Path(__file__).resolve().parents[2]
CONF = ROOT / "deploy" / "nginx" / "rota.conf"

# The waits inside these tests add up to more than the suite's default timeout.
pytestmark = [pytest.mark.e2e, pytest.mark.postgres, pytest.mark.timeout(600)]


def nginx_binary() -> str:
    path = os.environ.get("ROTA_TEST_NGINX", "/usr/sbin/nginx")
    if not os.access(path, os.X_OK):
        pytest.fail(f"no nginx at {path}: run scripts/install-nginx (or set ROTA_TEST_NGINX)")
    return path


class Nginx:
    """nginx in the foreground, with its own prefix, serving deploy/nginx/rota.conf with the
    two upstream servers and the listening port moved to free loopback ports."""

    def __init__(self, prefix: Path, port: int, upstreams: list[int]) -> None:
        self.prefix = prefix
        self.port = port
        conf = CONF.read_text()
        for number, upstream in enumerate(upstreams, start=1):
            name = f"rota-server-{number}:8077"
            assert name in conf, f"{CONF} names no {name}"
            conf = conf.replace(name, f"127.0.0.1:{upstream}")
        assert "listen 8077;" in conf
        conf = conf.replace("listen 8077;", f"listen 127.0.0.1:{port};")
        conf = conf.replace("listen [::]:8077;", "")
        (prefix / "tmp").mkdir(parents=True)
        (prefix / "rota.conf").write_text(conf)
        user = "user root;" if os.geteuid() == 0 else ""  # workers must reach the prefix
        temp = "\n".join(
            f"    {kind}_temp_path {prefix}/tmp/{kind};"
            for kind in ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")
        )
        (prefix / "nginx.conf").write_text(
            f"""daemon off;
{user}
worker_processes 1;
pid {prefix}/nginx.pid;
error_log {prefix}/error.log notice;
events {{ worker_connections 1024; }}
http {{
    access_log {prefix}/access.log;
{temp}
    include {prefix}/rota.conf;
}}
"""
        )
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        binary = nginx_binary()
        args = [binary, "-p", str(self.prefix), "-c", str(self.prefix / "nginx.conf")]
        check = subprocess.run(
            [*args, "-t", "-e", str(self.prefix / "error.log")], capture_output=True, check=False
        )
        assert check.returncode == 0, check.stderr.decode()
        self.process = subprocess.Popen(
            [*args, "-e", str(self.prefix / "error.log")],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_for(self._answers, 20, "nginx to answer")

    def _answers(self) -> bool:
        try:
            return httpx.get(self.url + "/healthz", timeout=2).status_code == 200
        except httpx.HTTPError:
            return False

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGQUIT)
            try:
                self.process.wait(timeout=10)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


@pytest.fixture
def proxied(cluster: Cluster, tmp_path: Path) -> Iterator[tuple[Cluster, Nginx, list[int]]]:
    dsn, admin = fresh_database()
    cluster.dsn = dsn
    ports = [free_port(), free_port()]
    nginx = Nginx(tmp_path / "nginx", cluster.port, ports)
    try:
        for port in ports:
            cluster.start_server(port=port, ROTA_EVENTS_KEEPALIVE_S="1")
        nginx.start()
        yield cluster, nginx, ports
    finally:
        nginx.stop()
        cluster.stop()
        drop_database(admin, dsn)
        log = tmp_path / "nginx" / "error.log"
        if log.exists():
            errors = [line for line in log.read_text().splitlines() if "[emerg]" in line]
            assert not errors, errors


def docs_query(name: str) -> str:
    text = (ROOT / "docs" / "deploy.md").read_text()
    found = re.search(rf"<!-- query: {name} -->\s*```promql\n(.+?)\n```", text, re.S)
    assert found, f"docs/deploy.md gives no {name} query"
    return found.group(1).strip()


def evaluate(promql: str, scrapes: list[str]) -> dict[str, float]:
    """Evaluate `AGG by (LABEL) (METRIC)` over the scrapes of several servers, as Prometheus
    would over their targets; return {label value: figure}."""
    form = re.fullmatch(r"(max|sum|min) by \((\w+)\) \((\w+)\)", promql)
    assert form, f"the docs' depth query {promql!r} is not of the form this test evaluates"
    aggregate, label, metric = form.groups()
    values: dict[str, list[float]] = defaultdict(list)
    for text in scrapes:
        for family in text_string_to_metric_families(text):
            for sample in family.samples:
                if sample.name == metric:
                    values[sample.labels[label]].append(sample.value)
    pick = {"max": max, "min": min, "sum": sum}[aggregate]
    return {key: float(pick(found)) for key, found in values.items()}


def test_two_servers_behind_nginx(proxied: tuple[Cluster, Nginx, list[int]]) -> None:
    cluster, nginx, ports = proxied
    assert cluster.url == nginx.url  # the cluster's REST helpers go through the proxy
    for number in range(3):
        cluster.start_worker(f"w{number}", concurrency=4, servers=[nginx.url])

    # The docs' queue-depth query, over both servers' scrapes, gives the true depth.
    idle = cluster.submit([{"task": "e2e.record", "args": [n], "queue": "idle"} for n in range(7)])
    scrapes = [httpx.get(f"http://127.0.0.1:{port}/metrics").text for port in ports]
    depth = evaluate(docs_query("depth"), scrapes)
    true_depth = {q["queue"]: q["due"] for q in cluster.get("/api/v1/queues")["queues"]}
    assert depth["idle"] == true_depth["idle"] == 7
    assert depth.get("default", 0) == true_depth.get("default", 0)

    # Two long polls at (and above) the maximum wait come back through nginx as 200s.
    polls: list[httpx.Response] = []

    def poll(wait: float) -> None:
        url = f"{nginx.url}/api/v1/jobs/{idle[0]['id']}/result"
        polls.append(httpx.get(url, params={"wait": wait}, timeout=MAX_WAIT_S + 60))

    pollers = [threading.Thread(target=poll, args=(w,)) for w in (MAX_WAIT_S, 60)]
    for thread in pollers:
        thread.start()

    # The event stream passes through: hello, a job's notices, keep-alive comments.
    seen: list[str] = []
    with httpx.stream("GET", nginx.url + "/api/v1/events", timeout=30) as stream:
        assert stream.status_code == 200
        lines = stream.iter_lines()
        job: dict[str, Any] | None = None
        for line in lines:
            seen.append(line)
            if line == "event: hello" and job is None:
                job = cluster.submit({"task": "e2e.record", "args": [-1]})
            if ": keep-alive" in seen and any(s.startswith("event: job") for s in seen):
                break
    for thread in pollers:
        thread.join(timeout=MAX_WAIT_S + 90)
    assert [response.status_code for response in polls] == [200, 200]
    assert all(response.json()["state"] == "pending" for response in polls)

    # Single and bulk submissions through the client while a server is killed.
    acknowledged: list[str] = []
    failures: list[BaseException] = []
    lock = threading.Lock()

    def singles(offset: int) -> None:
        with Client(nginx.url, timeout_s=30) as client:
            for n in range(120):
                try:
                    made = client.submit("e2e.record", [offset + n])
                except BaseException as exc:  # reported below
                    failures.append(exc)
                    return
                with lock:
                    acknowledged.append(made["id"])

    def bulks() -> None:
        with Client(nginx.url, timeout_s=30) as client:
            for batch in range(16):
                items = [
                    {"task": "e2e.record", "args": [100_000 + batch * 50 + n]} for n in range(50)
                ]
                try:
                    made = client.submit_many(items)
                except BaseException as exc:  # reported below
                    failures.append(exc)
                    return
                with lock:
                    acknowledged.extend(job["id"] for job in made)

    submitters = [
        threading.Thread(target=singles, args=(0,)),
        threading.Thread(target=singles, args=(10_000,)),
        threading.Thread(target=bulks),
    ]
    for thread in submitters:
        thread.start()
    wait_for(lambda: len(acknowledged) >= 300, 120, "a share of the submissions")
    cluster.kill(cluster.servers[ports[0]], signal.SIGKILL)
    for thread in submitters:
        thread.join(timeout=300)
    assert not failures, failures
    total = 2 * 120 + 16 * 50
    assert len(acknowledged) == len(set(acknowledged)) == total

    dsn = cluster.dsn or ""
    done = "SELECT count(*) FROM rota.jobs WHERE state = 'succeeded' AND task = 'e2e.record'"
    wait_for(lambda: query(dsn, done)[0][0] >= total + 1, 240, "every job done")
    rows = query(dsn, "SELECT id, state FROM rota.jobs WHERE queue = 'default'")
    assert {row["state"] for row in rows} == {"succeeded"}
    assert {row["id"] for row in rows} == {*acknowledged, job["id"] if job else ""}
    twice = query(
        dsn,
        "SELECT job_id FROM rota.events WHERE kind = 'succeeded' "
        "GROUP BY job_id HAVING count(*) > 1",
    )
    assert not twice, f"{len(twice)} jobs succeeded more than once"
    runs: dict[str, list[tuple[float, float]]] = defaultdict(list)
    for line in cluster.record_file.read_text().splitlines():
        job_id, begun, ended, _worker = line.split()
        runs[job_id].append((float(begun), float(ended)))
    for job_id, spans in runs.items():
        spans.sort()
        for (_, end), (start, _) in itertools.pairwise(spans):
            assert start >= end, f"job {job_id} ran twice at once: {spans}"
    assert all(worker.poll() is None for worker in cluster.workers.values())
    statuses = re.findall(r'" (\d{3}) ', (nginx.prefix / "access.log").read_text())
    print(f"through nginx: {len(statuses)} requests, {statuses.count('502')} answered 502")
