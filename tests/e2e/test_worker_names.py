"""One live worker per name, with real processes: a second worker (or device) under a live
worker's name is refused at hello and exits with the server's reason, and the live one
keeps every job; it does not reconnect for ever."""

from __future__ import annotations

import contextlib
import socket
import subprocess
import threading
import time

from tests.e2e.conftest import Cluster, wait_for

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


class HalfOpenRelay:
    """Forwards TCP connections from a loopback port to the server. cut() closes the worker's
    end of each connection and leaves the server's end open and silent: a network loss the
    worker notices and the server has not yet."""

    def __init__(self, target_port: int) -> None:
        self._target_port = target_port
        self._listener = socket.create_server(("127.0.0.1", 0))
        self.port: int = self._listener.getsockname()[1]
        self._worker_ends: list[socket.socket] = []
        self._all: list[socket.socket] = [self._listener]
        threading.Thread(target=self._accept, daemon=True).start()

    def _accept(self) -> None:
        with contextlib.suppress(OSError):
            while True:
                worker_end, _ = self._listener.accept()
                server_end = socket.create_connection(("127.0.0.1", self._target_port))
                self._worker_ends.append(worker_end)
                self._all += [worker_end, server_end]
                for source, sink in ((worker_end, server_end), (server_end, worker_end)):
                    threading.Thread(target=_pump, args=(source, sink), daemon=True).start()

    def cut(self) -> None:
        for worker_end in self._worker_ends:
            with contextlib.suppress(OSError):
                worker_end.shutdown(socket.SHUT_RDWR)
            worker_end.close()
        self._worker_ends.clear()

    def close(self) -> None:
        for sock in self._all:
            with contextlib.suppress(OSError):
                sock.close()


def _pump(source: socket.socket, sink: socket.socket) -> None:
    """Copy bytes one way until either end fails; never close anything (see cut)."""
    with contextlib.suppress(OSError):
        while data := source.recv(65536):
            sink.sendall(data)


def test_a_worker_back_from_a_network_loss_is_let_in_and_keeps_its_job(
    cluster: Cluster,
) -> None:
    cluster.start_server()
    relay = HalfOpenRelay(cluster.port)
    try:
        cluster.start_worker("w1", concurrency=1, servers=[f"http://127.0.0.1:{relay.port}"])
        [job] = cluster.submit([{"task": "e2e.whoami", "args": [3]}])
        wait_for(lambda: cluster.job(job["id"])["state"] == "running", 30, "the job running")
        relay.cut()
        done = cluster.wait_finished(job["id"])
        assert (done["state"], done["attempt"], done["result"]) == ("succeeded", 1, "w1")
    finally:
        relay.close()
    worker_log = (cluster.tmp_path / "worker-w1.log").read_text()
    assert worker_log.count("connected to") >= 2, worker_log
    assert "refused" not in worker_log
    assert cluster.workers["w1"].poll() is None
    # The server still counted the old connection: the worker was let in by its session.
    server_log = (cluster.tmp_path / f"server-{cluster.port}.log").read_text()
    assert "worker w1 came back; closing its older connection" in server_log
