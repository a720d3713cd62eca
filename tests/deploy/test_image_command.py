"""The image's command line, run outside a container: the Dockerfile's ENV, ENTRYPOINT and
CMD start a server that its own HEALTHCHECK command finds healthy, and SIGTERM stops it."""

from __future__ import annotations

import json
import os
import shlex
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest
from dockerfile_parse import DockerfileParser

from tests.e2e.conftest import free_port

ROOT = Path(__file__).resolve().parents[2]
IMAGE_BIN = "/opt/rota/bin"

pytestmark = [pytest.mark.deploy, pytest.mark.e2e]


def final_stage() -> tuple[dict[str, str], list[str], list[str]]:
    """Return the final stage's ENV, its ENTRYPOINT + CMD, and its HEALTHCHECK command."""
    parser = DockerfileParser(str(ROOT / "Dockerfile"))
    structure = parser.structure
    start = max(i for i, item in enumerate(structure) if item["instruction"] == "FROM")
    stage = structure[start:]

    def exec_form(instruction: str) -> list[str]:
        (value,) = [item["value"] for item in stage if item["instruction"] == instruction]
        words: list[str] = json.loads(value)  # exec form: no shell in between
        return words

    (check,) = [item["value"] for item in stage if item["instruction"] == "HEALTHCHECK"]
    options, _, command = check.partition(" CMD ")
    assert all(word.startswith("--") for word in shlex.split(options))
    return parser.envs, exec_form("ENTRYPOINT") + exec_form("CMD"), json.loads(command)


def test_the_image_command_line_becomes_healthy_and_stops_on_sigterm(tmp_path: Path) -> None:
    image_env, command, healthcheck = final_stage()
    assert command[0] == "rota" and healthcheck[0] == "python"
    venv_bin = str(Path(sys.executable).parent)
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(image_env)
    # What differs from the container: the virtual environment's place, a free port and a
    # database file in this test's folder (the image's WORKDIR is a volume).
    env["PATH"] = image_env["PATH"].replace(IMAGE_BIN, venv_bin) + env.get("PATH", "")
    env["ROTA_PORT"] = str(free_port())
    env["ROTA_DB"] = str(tmp_path / "rota.db")
    log = (tmp_path / "server.log").open("wb")
    server = subprocess.Popen(command, env=env, cwd=tmp_path, stdout=log, stderr=log)
    try:
        deadline = time.monotonic() + 60
        while True:
            probe = subprocess.run(healthcheck, env=env, capture_output=True, check=False)
            if probe.returncode == 0:
                break
            assert server.poll() is None, (tmp_path / "server.log").read_text()
            assert time.monotonic() < deadline, probe.stderr.decode()
            time.sleep(0.2)
        server.send_signal(signal.SIGTERM)
        assert server.wait(timeout=60) == 0
        probe = subprocess.run(healthcheck, env=env, capture_output=True, check=False)
        assert probe.returncode != 0
    finally:
        if server.poll() is None:
            server.kill()
            server.wait()
        log.close()
