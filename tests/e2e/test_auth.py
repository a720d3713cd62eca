"""Tokens with real processes: a server on a new store prints its first admin token once;
`rota tokens create|ls|revoke`; a worker connects with a worker token and runs jobs, and one
without a token (or with a revoked one) is refused; every refusal names no secret."""

from __future__ import annotations

import os
import re
import subprocess

import pytest

from tests.e2e.conftest import ROTA, Cluster, wait_for

pytestmark = [pytest.mark.e2e, pytest.mark.faults]
SECRET = re.compile(r"rota_[0-9a-f]{12}_[A-Za-z0-9_-]{43}")


def rota(cluster: Cluster, *args: str, token: str | None) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    if token is not None:
        env["ROTA_TOKEN"] = token
    return subprocess.run(
        [ROTA, "--server", cluster.url, *args],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        cwd=cluster.tmp_path,
    )


def test_tokens_from_first_start_to_revocation(cluster: Cluster) -> None:
    cluster.anonymous = False
    cluster.start_server()
    log = (cluster.tmp_path / f"server-{cluster.port}.log").read_text()
    [admin] = SECRET.findall(log)
    cluster.token = admin

    # A restart on the same store shows no token again.
    assert cluster.server is not None
    cluster.kill(cluster.server)
    cluster.start_server()
    assert SECRET.findall((cluster.tmp_path / f"server-{cluster.port}.log").read_text()) == [admin]

    # Without a token the CLI is refused with a message, not a traceback.
    refused = rota(cluster, "jobs", "ls", token=None)
    assert refused.returncode != 0
    assert "no token" in refused.stderr and "Traceback" not in refused.stderr

    made = rota(cluster, "tokens", "create", "--name", "w", "--role", "worker", token=admin)
    assert made.returncode == 0, made.stderr
    worker_token = made.stdout.strip()
    assert SECRET.fullmatch(worker_token)
    client = rota(cluster, "tokens", "create", "--name", "app", "--role", "client", token=admin)
    client_token = client.stdout.strip()
    listed = rota(cluster, "tokens", "ls", token=admin)
    assert listed.returncode == 0 and "app" in listed.stdout and worker_token not in listed.stdout

    # A client token may not make tokens; a worker token may not submit.
    assert "admin" in rota(cluster, "tokens", "ls", token=client_token).stderr
    denied = rota(cluster, "submit", "rota.echo", "1", token=worker_token)
    assert denied.returncode != 0 and "role worker" in denied.stderr

    # The worker with its token runs jobs; one without is refused at the door.
    cluster.start_worker("honest", env={"ROTA_TOKEN": worker_token})
    intruder = cluster.start_worker("intruder", wait=False)
    cluster.token = client_token
    job = cluster.submit({"task": "e2e.add", "args": [2, 3]})
    assert cluster.wait_finished(job["id"])["result"] == 5
    assert cluster.worker_state("intruder") is None
    assert intruder.poll() is None or intruder.returncode != 0

    # Revoked: the open connection closes and the worker cannot come back with it.
    worker_id = worker_token.split("_")[1]
    revoked = rota(cluster, "tokens", "revoke", worker_id, token=admin)
    assert revoked.returncode == 0, revoked.stderr
    wait_for(lambda: cluster.worker_state("honest") != "online", 15, "the revoked worker to go")
    # A lost admin token: whoever can write to the store makes another, without a server.
    rescue = subprocess.run(
        [ROTA, "tokens", "create", "--name", "rescue", "--role", "admin", "--db", str(cluster.db)],
        capture_output=True,
        text=True,
        timeout=60,
        env={k: v for k, v in os.environ.items() if not k.startswith("ROTA_")},
    )
    assert rescue.returncode == 0, rescue.stderr
    rescued = rescue.stdout.strip()
    assert rota(cluster, "tokens", "ls", token=rescued).returncode == 0
    logs = cluster.logs()
    assert worker_token not in logs and admin not in logs.replace(log, "")
    assert f"token {worker_id}" in logs
