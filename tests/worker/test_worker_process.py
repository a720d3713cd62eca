"""The worker as a real process: SIGTERM drains it and it exits 0; bad imports exit 2."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from pathlib import Path

import pytest
from worker_fake_server import FakeServer, job

from rota.settings import settings_of
from rota.worker.main import build_registry, run_worker


def _env(server: FakeServer, tmp_path: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("ROTA_")}
    env.update(ROTA_SERVER=server.url, ROTA_NAME="sub", **extra)
    return env


async def test_sigterm_drains_and_exits_zero(server: FakeServer, tmp_path: Path) -> None:
    server.heartbeat_s = 0.05
    process = await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "rota.worker",
        cwd=tmp_path,
        env=_env(server, tmp_path),
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        hello = await server.wait_connected()
        assert hello["name"] == "sub"
        await server.push_jobs(job("j1", "rota.sleep", 0.5))
        await server.wait_for(
            lambda: [m for m in server.of_type("heartbeat") if m["running"]], what="j1 running"
        )
        process.send_signal(signal.SIGTERM)
        await server.wait_message("drain")
        assert (await server.wait_message("result", "j1"))["result"] == 0.5
        async with asyncio.timeout(5):
            code = await process.wait()
        assert code == 0
        assert process.stderr is not None
        stderr = (await process.stderr.read()).decode()
        assert "rota worker sub: connected to ws://127.0.0.1:" in stderr
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_bad_import_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    settings = settings_of(
        {"imports": ["no_such_module_anywhere"], "server": ["http://127.0.0.1:1"]}
    )
    assert run_worker(settings) == 2
    err = capsys.readouterr().err
    assert err.startswith("rota worker: error: cannot import 'no_such_module_anywhere'")
    assert err.count("\n") == 1


def test_build_registry_merges_imported_registries() -> None:
    registry = build_registry(["worker_sample_tasks"])
    assert "t.add" in registry and "rota.echo" in registry


async def test_rota_worker_becomes_the_lean_entry_with_its_flags(
    server: FakeServer, tmp_path: Path
) -> None:
    server.heartbeat_s = 0.05
    rota = str(Path(sys.executable).with_name("rota"))
    process = await asyncio.create_subprocess_exec(
        rota,
        "worker",
        "--server",
        server.url,
        "--name",
        "lean",
        "--concurrency",
        "3",
        "--queues",
        "a,b",
        cwd=tmp_path,
        env={k: v for k, v in os.environ.items() if not k.startswith("ROTA_")},
        stderr=asyncio.subprocess.PIPE,
    )
    try:
        hello = await server.wait_connected()
        assert (hello["name"], hello["capacity"], hello["queues"]) == ("lean", 3, ["a", "b"])
        # The same process (its pid), now running `python -m rota.worker`.
        cmdline = (await asyncio.to_thread(Path(f"/proc/{process.pid}/cmdline").read_bytes)).split(
            b"\0"
        )
        assert cmdline[1:3] == [b"-m", b"rota.worker"]
        process.send_signal(signal.SIGTERM)
        async with asyncio.timeout(10):
            code = await process.wait()
        assert code == 0
    finally:
        if process.returncode is None:
            process.kill()
            await process.wait()


def test_resolved_settings_travel_as_json_and_are_taken_out_of_the_environment() -> None:
    from rota.launch import SETTINGS_ENV, settings_from_env

    settings = settings_of({"concurrency": 7, "queues": "x,y", "drain_grace_s": 1.5})
    env = {SETTINGS_ENV: settings.model_dump_json(), "OTHER": "1"}
    assert settings_from_env(env) == settings
    assert env == {"OTHER": "1"}
    assert settings_from_env(env) is None


def test_threads_share_few_malloc_arenas_on_glibc() -> None:
    from rota.launch import limit_malloc_arenas

    # The lean worker and server call it first thing; here the limit is the default's.
    assert limit_malloc_arenas(8 * (os.cpu_count() or 1)) is sys.platform.startswith("linux")
