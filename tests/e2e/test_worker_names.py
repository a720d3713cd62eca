"""Two processes under one worker name: the older one stops with a clear error instead of
both taking each other's place for ever (each connection replacing the other)."""

from __future__ import annotations

import subprocess

from tests.e2e.conftest import Cluster, wait_for


def test_a_second_worker_with_the_same_name_stops_the_first_with_a_clear_error(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    first = cluster.start_worker("twin")
    second = cluster._spawn(
        ["worker", "--server", cluster.url, "--name", "twin", "--import", "e2e_tasks"],
        cluster._env({}),
        "worker-twin-2.log",
    )
    try:
        # A bound that tells a fault from a loaded machine, not a speed.
        code = first.wait(timeout=60)
    except subprocess.TimeoutExpired:
        code = None
    log = (cluster.tmp_path / "worker-twin.log").read_text()
    assert code == 2, log
    assert "another worker or device named 'twin' connected" in log
    assert "Traceback" not in log
    assert second.poll() is None
    wait_for(lambda: cluster.worker_state("twin") == "online", 30, "the second twin online")
