"""TLS end to end, real processes: `rota server --tls-cert --tls-key` on loopback with a
certificate from a private CA (trustme), a `rota worker` over wss:// given `--ca`, jobs
submitted from the CLI and the Python client run by that worker, and the dashboard over
https:// in a real headless Chromium that trusts only that certificate. Without the CA,
clients and workers are refused with a message; plain http:// to the TLS port fails
saying to use https://."""

from __future__ import annotations

import base64
import hashlib
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest
from cryptography import x509
from cryptography.hazmat.primitives.serialization import Encoding, PublicFormat

from rota import AsyncClient, Client
from rota.errors import RotaError, ServerNotTrusted
from tests.e2e.conftest import ROTA, free_port, wait_for
from tests.tls_files import TlsFiles, make_tls_files

pytestmark = pytest.mark.e2e

HERE = Path(__file__).parent
CHROMIUM = Path(os.environ.get("ROTA_TEST_CHROMIUM", "/usr/bin/chromium"))
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage", "--no-first-run"]
COMMAND_TIMEOUT_S = 90.0
WORKER = "tls-w1"


@dataclass
class TlsCluster:
    """A server serving TLS, one worker that trusts its CA, and the files of the PKI."""

    folder: Path
    pki: TlsFiles
    port: int
    processes: list[subprocess.Popen[bytes]]

    @property
    def url(self) -> str:
        return f"https://127.0.0.1:{self.port}"

    def env(self) -> dict[str, str]:
        env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
        env["PYTHONPATH"] = os.pathsep.join([str(HERE), env.get("PYTHONPATH", "")])
        env["E2E_WORKER_NAME"] = WORKER
        return env

    def spawn(self, args: list[str], log: str) -> subprocess.Popen[bytes]:
        with (self.folder / log).open("ab") as out:
            process = subprocess.Popen(
                [ROTA, *args], env=self.env(), stdout=out, stderr=subprocess.STDOUT, cwd=self.folder
            )
        self.processes.append(process)
        return process

    def rota(self, *args: str) -> subprocess.CompletedProcess[str]:
        """Run a `rota` client command to its end."""
        return subprocess.run(
            [ROTA, *args],
            env=self.env(),
            cwd=self.folder,
            capture_output=True,
            text=True,
            timeout=COMMAND_TIMEOUT_S,
            check=False,
        )

    def client(self) -> Client:
        return Client(self.url, ca=self.pki.ca, timeout_s=30.0)

    def logs(self) -> str:
        return "\n".join(
            f"--- {path.name}\n{path.read_text(errors='replace')[-3000:]}"
            for path in sorted(self.folder.glob("*.log"))
        )


def worker_online(cluster: TlsCluster) -> bool:
    try:
        with cluster.client() as client:
            workers = client.workers()
    except RotaError:
        return False
    return any(w["name"] == WORKER and w["state"] == "online" for w in workers)


@pytest.fixture(scope="module")
def cluster(tmp_path_factory: pytest.TempPathFactory) -> Iterator[TlsCluster]:
    folder = tmp_path_factory.mktemp("tls")
    made = TlsCluster(
        folder=folder, pki=make_tls_files(folder / "pki"), port=free_port(), processes=[]
    )
    try:
        made.spawn(
            [
                "server",
                "--db",
                str(folder / "rota.db"),
                "--port",
                str(made.port),
                "--tls-cert",
                str(made.pki.cert),
                "--tls-key",
                str(made.pki.key),
            ],
            "server.log",
        )
        made.spawn(
            [
                "worker",
                "--server",
                made.url,
                "--ca",
                str(made.pki.ca),
                "--name",
                WORKER,
                "--import",
                "e2e_tasks",
            ],
            "worker.log",
        )
        try:
            wait_for(lambda: worker_online(made), 60, "the worker online over wss://")
        except BaseException:
            sys.stderr.write(made.logs())
            raise
        yield made
    finally:
        for process in made.processes:
            if process.poll() is None:
                process.terminate()
        for process in made.processes:
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()


def test_the_server_announces_https_and_the_worker_wss(cluster: TlsCluster) -> None:
    server_log = (cluster.folder / "server.log").read_text()
    assert f"Rota server on {cluster.url} " in server_log
    worker_log = (cluster.folder / "worker.log").read_text()
    assert f"connected to wss://127.0.0.1:{cluster.port}/" in worker_log


def test_a_job_submitted_from_the_cli_with_the_ca_runs_on_the_worker(cluster: TlsCluster) -> None:
    done = cluster.rota(
        "--server", cluster.url, "--ca", str(cluster.pki.ca), "submit", "e2e.whoami", "--wait"
    )
    assert done.returncode == 0, done.stderr + cluster.logs()
    assert WORKER in done.stdout
    job_id = re.search(r"submitted ([0-9a-f-]{36})", done.stderr)
    assert job_id is not None, done.stderr
    with cluster.client() as client:
        job = client.get_job(job_id[1])
    assert job["state"] == "succeeded" and job["worker"] == WORKER


def test_a_job_submitted_from_the_python_client_with_the_ca_comes_back(
    cluster: TlsCluster,
) -> None:
    with cluster.client() as client:
        job = client.submit("e2e.add", [2, 3])
        finished = client.wait(job["id"], timeout_s=60)
    assert finished["state"] == "succeeded"
    assert finished["result"] == 5 and finished["worker"] == WORKER


async def test_the_async_client_with_rota_ca_gets_a_result(
    cluster: TlsCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTA_CA", str(cluster.pki.ca))
    async with AsyncClient(cluster.url) as client:
        job = await client.submit("e2e.add", [20, 22])
        finished = await client.wait(job["id"], timeout_s=60)
    assert finished["result"] == 42


def test_the_worker_registered_its_periodic_schedule_over_https(cluster: TlsCluster) -> None:
    with cluster.client() as client:
        schedule = wait_for(lambda: _schedule(client, "e2e-hourly"), 30, "e2e-hourly")
    assert schedule["task"]


def _schedule(client: Client, name: str) -> dict[str, object] | None:
    try:
        return client.get_schedule(name)
    except RotaError:
        return None


def test_the_dashboard_over_https_shows_the_job(cluster: TlsCluster) -> None:
    from playwright.sync_api import Error, expect, sync_playwright

    if not CHROMIUM.exists():
        pytest.fail(f"{CHROMIUM} is missing: install Debian's chromium or set ROTA_TEST_CHROMIUM")
    with cluster.client() as client:
        job = client.submit("e2e.add", [40, 2])
        client.wait(job["id"], timeout_s=60)
    with sync_playwright() as playwright:
        # Trusted: this certificate's key and no other, certificate checks otherwise on.
        pinned = f"--ignore-certificate-errors-spki-list={spki_hash(cluster.pki.cert)}"
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=[*CHROMIUM_ARGS, pinned]
        )
        try:
            page = browser.new_page()
            page.set_default_timeout(20_000)
            page.goto(f"{cluster.url}/jobs/{job['id']}")
            expect(page.get_by_test_id("state")).to_have_text("succeeded", timeout=20_000)
            expect(page.get_by_test_id("result")).to_contain_text("42")
            expect(page.locator("#live")).to_have_text("live", timeout=20_000)  # event stream
        finally:
            browser.close()
        # The same browser without the pin refuses the certificate: the pin is what let it in.
        browser = playwright.chromium.launch(
            executable_path=str(CHROMIUM), headless=True, args=CHROMIUM_ARGS
        )
        try:
            with pytest.raises(Error, match="ERR_CERT_AUTHORITY_INVALID"):
                browser.new_page().goto(f"{cluster.url}/jobs/{job['id']}")
        finally:
            browser.close()


def spki_hash(cert: Path) -> str:
    """Return the base64 SHA-256 of a certificate's public key, as Chromium's
    --ignore-certificate-errors-spki-list takes it."""
    certificate = x509.load_pem_x509_certificate(cert.read_bytes())
    spki = certificate.public_key().public_bytes(Encoding.DER, PublicFormat.SubjectPublicKeyInfo)
    return base64.b64encode(hashlib.sha256(spki).digest()).decode()


def test_a_cli_command_without_the_ca_is_refused_with_a_message(cluster: TlsCluster) -> None:
    done = cluster.rota("--server", cluster.url, "submit", "e2e.add", "1", "2")
    assert done.returncode == 1
    assert done.stderr == (
        f"rota: error: the certificate of the server at {cluster.url} was refused: unable to "
        "get local issuer certificate; give the CA that signed it with --ca FILE (or ROTA_CA, "
        "or tls.ca in rota.toml)\n"
    )


def test_the_python_client_without_the_ca_is_refused(
    cluster: TlsCluster, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("ROTA_CA", raising=False)
    with Client(cluster.url) as client, pytest.raises(ServerNotTrusted, match=cluster.url):
        client.submit("e2e.add", [1, 2])


def test_a_worker_without_the_ca_exits_saying_which_server_and_why(cluster: TlsCluster) -> None:
    process = cluster.spawn(
        ["worker", "--server", cluster.url, "--name", "no-ca", "--import", "e2e_tasks"],
        "worker-no-ca.log",
    )
    assert process.wait(timeout=COMMAND_TIMEOUT_S) == 2
    log = (cluster.folder / "worker-no-ca.log").read_text()
    assert (
        f"rota worker: error: the certificate of the server at wss://127.0.0.1:{cluster.port}"
        in log
    )
    assert "unable to get local issuer certificate" in log


def test_plain_http_to_the_tls_port_fails_saying_to_use_https(cluster: TlsCluster) -> None:
    plain = f"http://127.0.0.1:{cluster.port}"
    done = cluster.rota("--server", plain, "--ca", str(cluster.pki.ca), "jobs", "ls")
    assert done.returncode == 1
    assert done.stderr == (
        f"rota: error: the Rota server at {plain} closed the connection without answering "
        "(if it serves HTTPS, use an https:// URL)\n"
    )


def test_a_device_with_the_ca_connects_and_one_without_exits(cluster: TlsCluster) -> None:
    def device(name: str, *extra: str) -> subprocess.Popen[bytes]:
        return cluster.spawn(
            [
                "device",
                "--name",
                name,
                "--server",
                cluster.url,
                "--holdings",
                str(cluster.folder / f"{name}.json"),
                "--audio-out",
                str(cluster.folder / "audio"),
                *extra,
            ],
            f"device-{name}.log",
        )

    trusted = device("tls-d1", "--ca", str(cluster.pki.ca))
    untrusted = device("tls-d2")
    assert untrusted.wait(timeout=COMMAND_TIMEOUT_S) == 2
    log = (cluster.folder / "device-tls-d2.log").read_text()
    assert (
        f"rota device: error: the certificate of the server at wss://127.0.0.1:{cluster.port}"
        in log
    )

    def online(name: str) -> bool:
        with cluster.client() as client:
            return any(w["name"] == name and w["state"] == "online" for w in client.workers())

    wait_for(lambda: online("tls-d1"), 60, "the device online over wss://")
    assert trusted.poll() is None
