"""The tasks every worker has: rota.echo, rota.sleep, rota.sha256, rota.http, rota.shell,
and rota.remind (sends a reminder to its notification URLs, rota.reminders.task).

Two more exist for demos and tests: rota.fail raises, and rota.crash kills the worker
process outright (exit code 70) to exercise crash recovery. rota.shell and rota.crash are
refused unless the worker was started with --allow-shell, and rota.http calls only the hosts
its `--allow-http` list names (rota.tasks.hosts), none by default.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import math
import os
import signal
from typing import Any

from rota.context import current_job
from rota.errors import TaskNotAllowed
from rota.reminders.task import remind
from rota.tasks.hosts import allowed_hosts
from rota.tasks.registry import TaskDef, TaskRegistry
from rota.types import JSON

MAX_HTTP_BODY_CHARS = 1024 * 1024
MAX_SHELL_OUTPUT_CHARS = 64 * 1024
CRASH_EXIT_CODE = 70


def echo(*args: JSON, **kwargs: JSON) -> JSON:
    """Return the input: a single argument as it is, anything else as {args, kwargs}."""
    if len(args) == 1 and not kwargs:
        return args[0]
    return {"args": list(args), "kwargs": kwargs}


async def sleep(seconds: float) -> float:
    """Sleep for `seconds`, reporting progress about every second; return `seconds`."""
    if not isinstance(seconds, int | float) or not math.isfinite(seconds) or seconds < 0:
        raise ValueError("seconds must be a finite number >= 0")
    loop = asyncio.get_running_loop()
    started = loop.time()
    end = started + seconds
    while (left := end - loop.time()) > 0:
        await asyncio.sleep(min(1.0, left))
        if seconds > 1:
            done = min(1.0, (loop.time() - started) / seconds)
            current_job().progress(done, f"slept {min(seconds, loop.time() - started):.0f}s")
    return seconds


def sha256(text: str) -> str:
    """Return the hex SHA-256 digest of the UTF-8 encoding of `text`."""
    return hashlib.sha256(text.encode()).hexdigest()


async def http(
    url: str,
    method: str = "GET",
    body: JSON = None,
    headers: dict[str, str] | None = None,
    timeout_s: float = 30,
) -> dict[str, JSON]:
    """Call a URL and return {status, headers, body}; the body text is capped at 1 MiB.

    A str body is sent as is; any other body is sent as JSON. Connection errors raise; an
    HTTP error status does not (the status is in the result). The URL's host and that of
    every redirect must be in the worker's `--allow-http` list: TaskNotAllowed (a failure
    for good) before any request to another host.
    """
    import httpx  # imported here: most workers never call this, and it is slow to import

    hosts = allowed_hosts()

    async def check_host(request: httpx.Request) -> None:
        host = request.url.raw_host.decode("ascii", errors="replace")
        if not hosts.allows(host):
            raise TaskNotAllowed(
                f"rota.http may not call {host!r}: the worker's --allow-http list "
                "(ROTA_ALLOW_HTTP) does not name it"
            )

    content = body if isinstance(body, str) else None
    json_body = None if isinstance(body, str) or body is None else body
    async with httpx.AsyncClient(
        timeout=timeout_s, follow_redirects=True, event_hooks={"request": [check_host]}
    ) as client:
        response = await client.request(
            method.upper(), url, content=content, json=json_body, headers=headers
        )
    return {
        "status": response.status_code,
        "headers": dict(response.headers),
        "body": response.text[:MAX_HTTP_BODY_CHARS],
    }


async def shell(cmd: str, timeout_s: float | None = None) -> dict[str, JSON]:
    """Run a shell command; return {returncode, stdout, stderr} (each output capped at 64 KiB).

    A nonzero return code raises RuntimeError with the end of stderr; the process is
    killed at the timeout or when the job is cancelled.
    """
    # Its own session, so a timeout or cancel can kill the shell and everything it started.
    process = await asyncio.create_subprocess_shell(
        cmd,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        start_new_session=True,
    )
    try:
        async with asyncio.timeout(timeout_s):
            stdout_bytes, stderr_bytes = await process.communicate()
    finally:
        if process.returncode is None:
            with contextlib.suppress(ProcessLookupError):
                os.killpg(process.pid, signal.SIGKILL)
            await process.wait()
    stdout = _tail(stdout_bytes)
    stderr = _tail(stderr_bytes)
    if process.returncode != 0:
        raise RuntimeError(f"command exited with code {process.returncode}: {stderr[-500:]}")
    return {"returncode": process.returncode, "stdout": stdout, "stderr": stderr}


def fail(message: str = "failed on purpose") -> None:
    """Raise RuntimeError(message): a job that always fails, for demos and tests."""
    raise RuntimeError(message)


def crash() -> None:
    """Kill the worker process at once with exit code 70, to test crash recovery."""
    os._exit(CRASH_EXIT_CODE)


def _tail(data: bytes) -> str:
    text = data.decode(errors="replace")
    return text if len(text) <= MAX_SHELL_OUTPUT_CHARS else text[-MAX_SHELL_OUTPUT_CHARS:]


def builtin_registry() -> TaskRegistry:
    """Return a new registry holding the built-in tasks."""
    registry = TaskRegistry()
    tasks: list[tuple[str, Any, bool]] = [
        ("rota.echo", echo, False),
        ("rota.sleep", sleep, False),
        ("rota.sha256", sha256, False),
        ("rota.shell", shell, True),
        ("rota.fail", fail, False),
        ("rota.crash", crash, True),
        ("rota.remind", remind, False),
    ]
    for name, fn, needs_shell in tasks:
        registry.add(TaskDef(name=name, fn=fn, needs_shell=needs_shell))
    registry.add(TaskDef(name="rota.http", fn=http, needs_http=True))
    return registry
