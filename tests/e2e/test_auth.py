"""Tokens with real processes: a server on a new store prints its first admin token once;
`rota tokens create|ls|revoke`; a worker connects with a worker token and runs jobs, and one
without a token (or with a revoked one) is refused; every refusal names no secret."""

from __future__ import annotations

import asyncio
import os
import re
import subprocess
from concurrent.futures import ThreadPoolExecutor

import httpx
import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed

from rota.auth.access import access_for, allows
from rota.auth.tokens import Role
from rota.protocol import WEBSOCKET_PATH
from tests.e2e.conftest import ROTA, Cluster, wait_for
from tests.e2e.figures import record

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


def test_every_route_and_the_socket_refuse_missing_wrong_revoked_and_wrong_role_tokens(
    cluster: Cluster,
) -> None:
    """The fault suite's refusal matrix, against a real server process: every operation of
    /openapi.json, the event stream and the worker socket, without a token, with a wrong,
    a revoked and a wrong-role one. Each must be 401 or 403 (4401/4403 on the socket)."""
    cluster.anonymous = False
    cluster.start_server()
    [admin] = SECRET.findall((cluster.tmp_path / f"server-{cluster.port}.log").read_text())
    cluster.token = admin

    def make(role: str) -> str:
        answer = cluster.request("POST", "/api/v1/tokens", json={"name": role, "role": role})
        assert answer.status_code == 201, answer.text
        return str(answer.json()["secret"])

    tokens = {role: make(role) for role in ("read", "client", "worker")}
    revoked = make("admin")
    cluster.request("DELETE", f"/api/v1/tokens/{revoked.split('_')[1]}")
    schema = cluster.get("/openapi.json")
    tokens_before = cluster.get("/api/v1/tokens")["tokens"]
    variants = {
        "none": None,
        "wrong": "rota_0123456789ab_" + "w" * 43,
        "revoked": revoked,
    }
    cases: list[tuple[str, str, str, str | None, int]] = []
    for path, item in schema["paths"].items():
        concrete = re.sub(r"\{[^}]+\}", "x1", path)
        for method, operation in item.items():
            if operation.get("security") == []:  # open: the probes, signing in
                continue
            need = access_for("http", method.upper(), concrete)
            wrong_role = next(
                role for role in ("worker", "read", "client") if not allows(Role(role), need)
            )
            for name, secret in [*variants.items(), ("wrong role", tokens[wrong_role])]:
                expected = 403 if name == "wrong role" else 401
                cases.append((method.upper(), concrete, name, secret, expected))

    def status_of(case: tuple[str, str, str, str | None, int]) -> int:
        method, path, _, secret, _ = case
        headers = {"content-type": "application/json"}
        if secret is not None:
            headers["authorization"] = f"Bearer {secret}"
        body = b"{}" if method in ("POST", "PUT", "PATCH") else None
        with httpx.Client(base_url=cluster.url, timeout=30) as http:
            with http.stream(method, path, headers=headers, content=body) as answer:
                return answer.status_code

    # At once: an unknown token waits for the guard's next read of the tokens.
    with ThreadPoolExecutor(16) as pool:
        statuses = list(pool.map(status_of, cases))
    asked = len(cases)
    refused = sum(status == case[4] for case, status in zip(cases, statuses, strict=True))
    wrong = [(c[0], c[1], c[2], s) for c, s in zip(cases, statuses, strict=True) if s != c[4]]
    socket_refused = 0
    for secret, code in [
        (None, 4401),
        (variants["wrong"], 4401),
        (revoked, 4401),
        (tokens["read"], 4403),
        (tokens["client"], 4403),
    ]:
        socket_refused += asyncio.run(_socket_close_code(cluster, secret)) == code
    record("auth.requests_refused", refused, "requests", f"of {asked}: each operation, 4 tokens")
    record(
        "auth.socket_refused", socket_refused, "handshakes", "of 5: none, wrong, revoked, 2 roles"
    )
    assert not wrong and asked > 100
    # Refused before any route ran: nothing was made, changed or revoked.
    assert cluster.get("/api/v1/tokens")["tokens"] == tokens_before
    assert cluster.count_jobs() == 0 and cluster.get("/api/v1/schedules")["schedules"] == []
    assert socket_refused == 5


async def _socket_close_code(cluster: Cluster, secret: str | None) -> int | None:
    headers = {"Authorization": f"Bearer {secret}"} if secret else None
    url = cluster.url.replace("http://", "ws://") + WEBSOCKET_PATH
    async with connect(url, additional_headers=headers) as socket:
        try:
            await asyncio.wait_for(socket.recv(), 10)
            await asyncio.wait_for(socket.recv(), 10)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None
    return None
