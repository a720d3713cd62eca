"""Bad input gets a clear 4xx and stores nothing."""

from __future__ import annotations

import signal
import socket

import pytest

from tests.e2e.conftest import Cluster


@pytest.fixture
def server(cluster: Cluster) -> Cluster:
    cluster.start_server(ROTA_MAX_BODY_BYTES="65536")
    cluster.submit({"task": "rota.echo", "args": ["kept"]})
    return cluster


@pytest.mark.parametrize(
    ("body", "status", "words"),
    [
        (b"{not json", 400, "json"),
        (b'{"task": 42}', 422, "task"),
        (b'{"task": "rota.echo", "args": "not-a-list"}', 422, "args"),
        (b'{"task": "rota.echo", "priority": "high"}', 422, "priority"),
        (b'{"task": "rota.echo", "surprise": 1}', 422, "surprise"),
        (b'{"task": "no.such.task"}', 422, "no.such.task"),
        (b'{"task": "rota.echo", "run_at": "2030-01-01T00:00:00"}', 422, "run_at"),
        (b'{"task": "rota.echo", "delay": 1, "run_at": "2030-01-01T00:00:00Z"}', 422, "delay"),
        (b'[{"task": "rota.echo"}, {"task": 7}]', 422, "1"),
    ],
)
def test_bad_submissions_are_refused_with_a_message(
    server: Cluster, body: bytes, status: int, words: str
) -> None:
    response = server.request(
        "POST", "/api/v1/jobs", content=body, headers={"content-type": "application/json"}
    )
    assert response.status_code == status, response.text
    message = response.json()["error"]["message"]
    assert words.lower() in message.lower(), message
    assert server.count_jobs() == 1


def test_an_oversize_body_is_refused(server: Cluster) -> None:
    body = {"task": "rota.echo", "args": ["x" * 100_000]}
    response = server.request("POST", "/api/v1/jobs", json=body)
    assert response.status_code == 413, response.text
    assert "larger than the limit" in response.json()["error"]["message"]

    def chunks():  # no Content-Length: the limit must hold on the streamed body too
        yield b'{"task": "rota.echo", "args": ["'
        for _ in range(100):
            yield b"y" * 1000
        yield b'"]}'

    streamed = server.request(
        "POST", "/api/v1/jobs", content=chunks(), headers={"content-type": "application/json"}
    )
    assert streamed.status_code == 413, streamed.text
    assert server.count_jobs() == 1


def test_unknown_job_is_404(server: Cluster) -> None:
    for method, path in [
        ("GET", "/api/v1/jobs/0190f5c2-0000-7000-8000-000000000000"),
        ("DELETE", "/api/v1/jobs/0190f5c2-0000-7000-8000-000000000000"),
        ("POST", "/api/v1/jobs/0190f5c2-0000-7000-8000-000000000000/retry"),
    ]:
        response = server.request(method, path)
        assert response.status_code == 404, (method, path, response.text)
        assert response.json()["error"]["type"] == "JobNotFound"


def test_a_client_gone_mid_body_leaves_no_error_in_the_server_log(server: Cluster) -> None:
    for _ in range(3):
        with socket.create_connection(("127.0.0.1", server.port)) as raw:
            raw.sendall(
                b"POST /api/v1/jobs HTTP/1.1\r\nHost: rota.test\r\n"
                b"Content-Type: application/json\r\nContent-Length: 1000\r\n\r\n"
                b'{"task": "rota.echo", "args": ['
            )
    assert server.count_jobs() == 1
    assert server.server is not None
    server.kill(server.server, signal.SIGTERM)  # the server finishes every request first
    log = (server.tmp_path / f"server-{server.port}.log").read_text()
    assert "Traceback" not in log and "ERROR" not in log, log
