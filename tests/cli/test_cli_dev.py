"""`rota dev` as a user runs it: a real server and real workers, stopped by a signal."""

from __future__ import annotations

import http.server
import os
import shlex
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import Any

import httpx
import pytest

from rota import Client
from rota.errors import RotaError
from tests.client.live import free_port

START_TIMEOUT_S = 20.0

pytestmark = pytest.mark.e2e


def _wait_workers(client: Client, count: int) -> list[dict[str, object]]:
    deadline = time.monotonic() + START_TIMEOUT_S
    while time.monotonic() < deadline:
        try:
            online = [w for w in client.workers() if w["state"] == "online"]
        except RotaError:
            online = []
        if len(online) == count:
            return online
        time.sleep(0.1)
    pytest.fail(f"{count} workers did not come online")


def _interrupt(dev: subprocess.Popen[Any]) -> None:
    """Stop `rota dev` as Ctrl-C does; kill it if it has not stopped within 30 s."""
    dev.send_signal(signal.SIGINT)
    try:
        dev.wait(timeout=30)
    except subprocess.TimeoutExpired:
        dev.kill()
        dev.wait()


@pytest.mark.parametrize("stop_signal", [signal.SIGINT, signal.SIGTERM], ids=["INT", "TERM"])
def test_dev_runs_server_and_workers_and_stops_cleanly(
    tmp_path: Path, stop_signal: signal.Signals
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", "dev", "--port", str(port), "--workers", "2"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            workers = _wait_workers(client, 2)
            assert sorted(str(w["name"]) for w in workers) == ["dev-1", "dev-2"]
            job = client.submit("rota.sha256", ["Hello"])
            assert client.wait(job["id"], timeout_s=10)["state"] == "succeeded"
        assert (tmp_path / "rota.db").exists()  # the SQLite file is in the current folder
        dev.send_signal(stop_signal)
        output, _ = dev.communicate(timeout=30)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    text = output.decode(errors="replace")
    assert dev.returncode == 0, text
    assert f"Dashboard and API: http://127.0.0.1:{port}" in text
    assert "submit rota.sha256 Hello --wait" in text
    assert "stopping" in text and "stopped" in text
    assert "Traceback" not in text
    # The children are gone: nothing answers on the port any more.
    with Client(f"http://127.0.0.1:{port}", timeout_s=1) as client, pytest.raises(RotaError):
        client.health()


def test_dev_restarts_a_worker_that_dies(tmp_path: Path) -> None:
    port = free_port()
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", "dev", "--port", str(port), "--workers", "1"],
        cwd=tmp_path,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
    )
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            _wait_workers(client, 1)
            worker_pids = subprocess.run(
                ["pgrep", "-P", str(dev.pid), "-f", "worker"],
                capture_output=True,
                text=True,
                check=False,
            ).stdout.split()
            assert len(worker_pids) == 1
            os.kill(int(worker_pids[0]), signal.SIGKILL)
            deadline = time.monotonic() + START_TIMEOUT_S
            while time.monotonic() < deadline:
                fresh = subprocess.run(
                    ["pgrep", "-P", str(dev.pid), "-f", "worker"],
                    capture_output=True,
                    text=True,
                    check=False,
                ).stdout.split()
                if fresh and fresh != worker_pids:
                    break
                time.sleep(0.1)
            else:
                pytest.fail("the worker was not restarted")
            _wait_workers(client, 1)
        dev.send_signal(signal.SIGTERM)
        output, _ = dev.communicate(timeout=30)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    text = output.decode(errors="replace")
    assert "worker dev-1 was killed by SIGKILL; restarting in 1s" in text
    assert dev.returncode == 0, text


def test_dev_demo_makes_jobs_flow(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    command = [sys.executable, "-m", "rota.cli.main", "dev", "--port", str(port), "--demo"]
    dev = subprocess.Popen(
        command, cwd=tmp_path, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            _wait_workers(client, 2)
            deadline = time.monotonic() + START_TIMEOUT_S
            tasks: set[str] = set()
            while time.monotonic() < deadline and not {"rota.sha256", "rota.sleep"} <= tasks:
                time.sleep(0.5)
                done = client.list_jobs(state="succeeded", limit=100)["jobs"]
                tasks = {str(job["task"]) for job in done}
            assert {"rota.sha256", "rota.sleep"} <= tasks, tasks
            assert client.get_schedule("demo-every-15s")["cron"] == "*/15 * * * * *"
        dev.send_signal(signal.SIGINT)
        output, _ = dev.communicate(timeout=60)
    finally:
        if dev.poll() is None:
            dev.kill()
            dev.wait()
    assert dev.returncode == 0, output.decode(errors="replace")


def test_dev_hands_its_config_file_to_the_server_and_workers(tmp_path: Path) -> None:
    """`rota --config FILE dev`: settings only FILE gives reach the processes dev starts."""
    port = free_port()
    config = tmp_path / "elsewhere" / "dev.toml"
    config.parent.mkdir()
    config.write_text(f'[server]\nport = {port}\n[worker]\nqueues = ["mail"]\n')
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", "--config", str(config), "dev", "--workers", "1"],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        with Client(f"http://127.0.0.1:{port}") as client:
            [worker] = _wait_workers(client, 1)
            assert worker["queues"] == ["mail"]
    finally:
        _interrupt(dev)


def test_dev_on_a_port_in_use_stops_before_anything_talks_to_that_server(
    tmp_path: Path,
) -> None:
    # It used to start its workers and demo against whatever answered there.
    requests: list[str] = []

    class Answer(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            requests.append(self.path)
            self.send_response(200)
            self.end_headers()
            self.wfile.write(b"{}")

        def log_message(self, *args: object) -> None:
            pass

    other = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Answer)
    port = other.server_address[1]
    threading.Thread(target=other.serve_forever, daemon=True).start()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    try:
        done = subprocess.run(
            [sys.executable, "-m", "rota.cli.main", "dev", "--port", str(port), "--demo"],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
    finally:
        other.shutdown()
        other.server_close()
    assert done.returncode != 0
    assert f"cannot listen on 127.0.0.1:{port}" in done.stderr, done.stderr
    assert "Traceback" not in done.stderr
    assert requests == []


def test_dev_hands_its_allowed_hosts_to_the_server(tmp_path: Path) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    argv = ["dev", "--port", str(port), "--workers", "0", "--allowed-hosts", "rota.lan"]
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", *argv],
        cwd=tmp_path,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        url = f"http://127.0.0.1:{port}/api/v1/jobs"
        deadline = time.monotonic() + START_TIMEOUT_S
        while time.monotonic() < deadline:
            try:
                httpx.get(url)
                break
            except httpx.TransportError:
                time.sleep(0.1)
        assert httpx.get(url, headers={"host": f"rota.lan:{port}"}).status_code == 200
        refused = httpx.get(url, headers={"host": "evil.example"})
        assert refused.status_code == 400
        assert refused.json()["error"]["type"] == "HostNotAllowed"
    finally:
        _interrupt(dev)


def test_dev_on_all_interfaces_prints_a_try_command_that_works_as_shown(tmp_path: Path) -> None:
    """Bound beyond loopback, the server wants a token: the command shown names one."""
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    argv = ["dev", "--host", "0.0.0.0", "--port", str(port), "--workers", "1"]
    dev = subprocess.Popen(
        [sys.executable, "-m", "rota.cli.main", *argv],
        cwd=tmp_path,
        env={**env, "COLUMNS": "60"},  # a narrow terminal: the command stays on one line
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert dev.stdout is not None
    drain = threading.Thread(target=dev.stdout.read, daemon=True)  # so the pipe never fills
    try:
        shown = ""
        for line in iter(dev.stdout.readline, ""):  # until the banner, or dev's end
            if line.startswith("Try:"):
                shown = line
                break
        assert shown, "rota dev printed no Try: line"
        drain.start()
        program, *arguments = shlex.split(shown.removeprefix("Try:"))
        assert program == "rota"
        done = subprocess.run(
            [sys.executable, "-m", "rota.cli.main", *arguments],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert done.returncode == 0, done.stderr
        assert done.stdout.strip()  # the task's result
    finally:
        _interrupt(dev)
        if drain.is_alive():
            drain.join(timeout=10)
        dev.stdout.close()
