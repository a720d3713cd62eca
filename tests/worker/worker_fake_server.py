"""A small fake server that speaks the worker protocol over a real WebSocket, and helpers.

It builds and reads plain msgpack maps, as a server written in another language would, so
the tests check the wire format docs/protocol.md describes rather than the classes. A
`result` it receives gets a `result` key too: the value its `result_json` text holds."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
from collections.abc import Callable
from typing import Any

import msgpack
from websockets.asyncio.server import Server, ServerConnection, serve
from websockets.http11 import Request, Response

from rota import protocol
from rota.tasks.builtin import builtin_registry
from rota.tasks.registry import TaskRegistry
from rota.types import Payload
from rota.worker.runtime import Worker

WAIT_S = 5.0


def free_port() -> int:
    """Return a loopback port nobody listens on (right now)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


class FakeServer:
    """Answers hello with welcome, acks outcomes, and records everything the worker sends."""

    def __init__(self, *, heartbeat_s: float = 5.0, auto_ack: bool = True) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        self.heartbeat_s = heartbeat_s
        self.auto_ack = auto_ack
        self.stale: set[str] = set()
        """Job ids the next welcome declares stale (when the worker re-presents them)."""
        self.received: list[Payload] = []
        """Every message the worker sent after hello, those of a `batch` one by one."""
        self.frames = 0
        """How many frames those messages came in."""
        self.hellos: list[Payload] = []
        self.refusal: tuple[int, str | None] | None = None
        """Close the next connections after their hello with this code, sending an `error`
        with the text first if there is one."""
        self.http_refusal: tuple[int, str] | None = None
        """Answer the next handshakes with this HTTP status and body."""
        self._connection: ServerConnection | None = None
        self._server: Server | None = None
        self._changed = asyncio.Event()

    async def start(self) -> None:
        """Listen on the port."""
        self._server = await serve(
            self._serve,
            "127.0.0.1",
            self.port,
            max_size=protocol.MAX_FRAME_BYTES,
            process_request=self._process_request,
        )

    def _process_request(self, connection: ServerConnection, request: Request) -> Response | None:
        if self.http_refusal is None:
            return None
        status, body = self.http_refusal
        return connection.respond(status, body)

    async def stop(self) -> None:
        """Close every connection and stop listening."""
        if self._server is not None:
            self._server.close()
            await self._server.wait_closed()
            self._server = None

    async def _serve(self, connection: ServerConnection) -> None:
        if connection.request is None or connection.request.path != protocol.WEBSOCKET_PATH:
            await connection.close(1008, "wrong path")
            return
        hello = msgpack.unpackb(await connection.recv(decode=False))
        assert hello["type"] == "hello", hello
        self.hellos.append(hello)
        if self.refusal is not None:
            code, text = self.refusal
            if text is not None:
                await connection.send(pack({"type": "error", "message": text}))
            await connection.close(code, (text or "")[:100])
            return
        stale = [lease["job_id"] for lease in hello["running"] if lease["job_id"] in self.stale]
        welcome = {
            "type": "welcome",
            "version": protocol.PROTOCOL_VERSION,
            "server": "fake",
            "heartbeat_s": self.heartbeat_s,
            "lease_s": 30.0,
            "stale": stale,
            "session": f"session-{len(self.hellos)}",
        }
        await connection.send(pack(welcome))
        self._connection = connection
        self._notify()
        with contextlib.suppress(Exception):
            async for frame in connection:
                assert isinstance(frame, bytes), "the worker must send binary frames"
                self.frames += 1
                message = msgpack.unpackb(frame)
                batch = message["messages"] if message["type"] == "batch" else [message]
                for item in batch:
                    if item["type"] == "result":
                        item["result"] = json.loads(item["result_json"])
                    self.received.append(item)
                    if self.auto_ack and item["type"] in {"result", "failure", "release"}:
                        ack = {"type": "ack", "job_id": item["job_id"], "ok": True, "error": None}
                        await self.send(ack)
                self._notify()
        if self._connection is connection:
            self._connection = None
        self._notify()

    def _notify(self) -> None:
        self._changed.set()

    @property
    def connected(self) -> bool:
        """Tell whether a worker is connected and welcomed."""
        return self._connection is not None

    async def send(self, message: Payload) -> None:
        """Send a message to the connected worker."""
        if self._connection is None:
            raise AssertionError("no worker is connected")
        await self._connection.send(pack(message))

    async def push_jobs(self, *jobs: Payload) -> None:
        """Send one `jobs` message."""
        await self.send({"type": "jobs", "jobs": list(jobs)})

    async def close(self, code: int, reason: str) -> None:
        """Close the worker's connection with a close code, as a server refusing it would."""
        if self._connection is not None:
            await self._connection.close(code, reason)

    async def drop(self) -> None:
        """Close the worker's connection abruptly (as a crashed server would)."""
        if self._connection is not None:
            self._connection.transport.abort()
            self._connection = None

    async def wait_for(
        self, predicate: Callable[[], Any], *, timeout_s: float = WAIT_S, what: str = ""
    ) -> Any:
        """Wait until predicate() returns something truthy, and return it."""
        try:
            async with asyncio.timeout(timeout_s):
                while not (value := predicate()):
                    self._changed.clear()
                    with contextlib.suppress(TimeoutError):
                        async with asyncio.timeout(0.05):
                            await self._changed.wait()
                return value
        except TimeoutError:
            raise AssertionError(
                f"timed out waiting for {what or predicate}; received {self.received}"
            ) from None

    async def wait_connected(self, count: int = 1) -> Payload:
        """Wait until the worker has said hello `count` times; return the last hello."""
        await self.wait_for(
            lambda: self.connected and len(self.hellos) >= count, what=f"hello #{count}"
        )
        return self.hellos[-1]

    def of_type(self, kind: str, job_id: str | None = None) -> list[Payload]:
        """Return the received messages of a type (for one job, if given)."""
        return [
            m
            for m in self.received
            if m["type"] == kind and (job_id is None or m.get("job_id") == job_id)
        ]

    async def wait_message(self, kind: str, job_id: str | None = None) -> Payload:
        """Wait for a message of a type (for one job, if given) and return the first."""
        found: list[Payload] = await self.wait_for(
            lambda: self.of_type(kind, job_id), what=f"{kind} {job_id or ''}"
        )
        return found[0]


def pack(message: Payload) -> bytes:
    """Return the frame of a message given as a plain map."""
    frame: bytes = msgpack.packb(message, use_bin_type=True)
    return frame


def job(
    job_id: str, task: str, *args: Any, timeout_s: float | None = None, **kwargs: Any
) -> Payload:
    """Return a `jobs` item."""
    return {
        "job_id": job_id,
        "token": f"token-{job_id}",
        "task": task,
        "args": list(args),
        "kwargs": kwargs,
        "attempt": 1,
        "max_attempts": 3,
        "timeout_s": timeout_s,
        "queue": "default",
    }


class WorkerRun:
    """A Worker running as a task of the test's loop."""

    def __init__(self, worker: Worker, lines: list[str]) -> None:
        self.worker = worker
        self.lines = lines
        self.task: asyncio.Task[bool] = asyncio.create_task(worker.run())

    async def finish(self, timeout_s: float = WAIT_S) -> bool:
        """Wait for run() to return and give its value."""
        async with asyncio.timeout(timeout_s):
            return await self.task


def make_registry(*registries: TaskRegistry) -> TaskRegistry:
    """Return the built-ins merged with the given registries."""
    registry = builtin_registry()
    for other in registries:
        registry.merge(other)
    return registry
