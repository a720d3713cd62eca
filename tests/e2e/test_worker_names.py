"""One live worker per name, with real processes: a second worker (or device) under a live
worker's name is refused at hello and exits with the server's reason, and the live one
keeps every job; it does not reconnect for ever."""

from __future__ import annotations

import subprocess
import time

from tests.e2e.conftest import Cluster

REFUSED_EXIT = 3
PROMPTLY_S = 30.0
"""A bound that tells a refusal from a worker reconnecting for ever on a loaded machine."""


def wait_exit(proc: subprocess.Popen[bytes]) -> int | None:
    try:
        return proc.wait(timeout=PROMPTLY_S)
    except subprocess.TimeoutExpired:
        return None


def test_an_impostor_under_a_live_name_is_refused_and_the_live_worker_gets_every_job(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    honest = cluster.start_worker("twin", concurrency=20)
    impostor = cluster._spawn(
        ["worker", "--server", cluster.url, "--name", "twin", "--concurrency", "1000"],
        cluster._env({"E2E_WORKER_NAME": "impostor"}),
        "worker-impostor.log",
    )
    started = time.monotonic()
    code = wait_exit(impostor)
    log = (cluster.tmp_path / "worker-impostor.log").read_text()
    assert code == REFUSED_EXIT, log
    assert time.monotonic() - started < PROMPTLY_S
    assert "refused this worker: the worker name 'twin' is taken" in log
    assert "give each worker its own --name" in log
    assert "Traceback" not in log

    jobs = cluster.submit([{"task": "e2e.whoami"} for _ in range(20)])
    for job in jobs:
        done = cluster.wait_finished(job["id"])
        assert (done["state"], done["attempt"], done["result"]) == ("succeeded", 1, "twin")
        kinds = [event["kind"] for event in cluster.events(job["id"])]
        assert kinds.count("started") == 1, kinds
    assert honest.poll() is None
    assert cluster.worker_state("twin") == "online"
    honest_log = (cluster.tmp_path / "worker-twin.log").read_text()
    assert "lost connection" not in honest_log


def test_a_device_under_a_live_worker_s_name_exits_with_the_reason(cluster: Cluster) -> None:
    cluster.start_server()
    cluster.start_worker("laptop")
    device = cluster._spawn(
        [
            "device",
            "--server",
            cluster.url,
            "--name",
            "laptop",
            "--audio-out",
            str(cluster.tmp_path / "audio"),
            "--holdings",
            str(cluster.tmp_path / "laptop.json"),
        ],
        cluster._env({}),
        "device-laptop.log",
    )
    code = wait_exit(device)
    log = (cluster.tmp_path / "device-laptop.log").read_text()
    assert code == REFUSED_EXIT, log
    assert "rota device: error:" in log
    assert "the worker name 'laptop' is taken" in log
    assert "Traceback" not in log
