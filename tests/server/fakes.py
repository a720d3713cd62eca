"""A fake worker: speaks the worker protocol over a real WebSocket, driven by the test.

It builds and reads plain msgpack maps, as a worker written in another language would, so
the tests check the wire format docs/protocol.md describes rather than the classes."""

from __future__ import annotations

import asyncio
import json
from collections import deque
from typing import Any

import msgpack
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed

from rota.protocol import PROTOCOL_VERSION, WEBSOCKET_PATH
from rota.types import Payload

RECEIVE_TIMEOUT_S = 5.0
BUILTINS = ["rota.echo", "rota.sleep", "rota.sha256", "rota.http", "rota.shell"]


class FakeWorker:
    """One worker connection whose every frame the test sends and reads itself."""

    def __init__(
        self,
        ws_url: str,
        *,
        name: str,
        capacity: int = 1,
        queues: list[str] | None = None,
        tags: list[str] | None = None,
        tasks: list[str] | None = None,
        running: list[dict[str, str]] | None = None,
        version: int = PROTOCOL_VERSION,
        prefetch: int | None = None,
        token: str | None = None,
    ) -> None:
        self.url = ws_url + WEBSOCKET_PATH
        self.headers = {"Authorization": f"Bearer {token}"} if token else None
        self.name = name
        self.hello: Payload = {
            "type": "hello",
            "version": version,
            "name": name,
            "queues": queues or ["default"],
            "tags": tags or [],
            "tasks": tasks if tasks is not None else [*BUILTINS, "app.add"],
            "capacity": capacity,
            "running": running or [],
        }
        if prefetch is not None:
            self.hello["prefetch"] = prefetch
        self.welcome: Payload | None = None
        self._socket: ClientConnection | None = None
        self._unread: deque[Payload] = deque()
        """Messages of a `batch` frame not returned yet."""

    @property
    def socket(self) -> ClientConnection:
        if self._socket is None:
            raise RuntimeError("not connected")
        return self._socket

    async def open(self) -> None:
        """Open the WebSocket without saying hello."""
        self._socket = await connect(self.url, max_size=None, additional_headers=self.headers)

    async def connect(self) -> Payload:
        """Open the WebSocket, say hello and return the welcome."""
        await self.open()
        await self.send(self.hello)
        self.welcome = await self.receive("welcome")
        return self.welcome

    async def send(self, message: Payload) -> None:
        await self.socket.send(pack(message))

    async def send_batch(self, *messages: Payload) -> None:
        """Send several messages in one `batch` frame."""
        await self.send({"type": "batch", "messages": list(messages)})

    async def receive(
        self, kind: str | None = None, timeout_s: float = RECEIVE_TIMEOUT_S
    ) -> Payload:
        """Return the next message, those of a `batch` one by one (checking its type when
        given)."""
        if not self._unread:
            frame = await asyncio.wait_for(self.socket.recv(), timeout_s)
            assert isinstance(frame, bytes), "the server must send binary frames"
            message = msgpack.unpackb(frame)
            assert isinstance(message, dict) and isinstance(message.get("type"), str)
            if message["type"] == "batch":
                assert len(message["messages"]) > 1, "a batch carries several messages"
                self._unread.extend(message["messages"])
            else:
                self._unread.append(message)
        message = self._unread.popleft()
        if kind is not None:
            assert message["type"] == kind, f"expected {kind}, got {message}"
        return message

    async def nothing_within(self, seconds: float) -> bool:
        """Tell whether no message arrives for that long."""
        if self._unread:
            raise AssertionError(f"unexpected message {self._unread[0]}")
        try:
            frame = await asyncio.wait_for(self.socket.recv(), seconds)
        except TimeoutError:
            return True
        raise AssertionError(f"unexpected message {msgpack.unpackb(frame)}")

    async def receive_jobs(self, count: int, timeout_s: float = RECEIVE_TIMEOUT_S) -> list[Payload]:
        """Collect `jobs` frames until they hold `count` jobs."""
        jobs: list[Payload] = []
        while len(jobs) < count:
            message = await self.receive("jobs", timeout_s)
            jobs.extend(message["jobs"])
        return jobs

    async def finish(self, job: Payload, result: Any = None) -> Payload:
        """Send the job's result and return the server's ack."""
        await self.send(result_message(job, result))
        return await self.receive("ack")

    async def heartbeat(self, jobs: list[Payload], state: str = "online") -> None:
        await self.send(
            {
                "type": "heartbeat",
                "running": [{"job_id": job["job_id"], "token": job["token"]} for job in jobs],
                "state": state,
                "resources": {"cpu_percent": 1.0},
            }
        )

    async def closed_with(self, timeout_s: float = RECEIVE_TIMEOUT_S) -> int | None:
        """Wait for the server to close the connection; return its close code."""
        try:
            while True:
                await asyncio.wait_for(self.socket.recv(), timeout_s)
        except ConnectionClosed as exc:
            return exc.rcvd.code if exc.rcvd else None

    async def close(self) -> None:
        if self._socket is not None:
            await self._socket.close()


def pack(message: Payload) -> bytes:
    """Return the frame of a message given as a plain map."""
    frame: bytes = msgpack.packb(message, use_bin_type=True)
    return frame


def result_message(job: Payload, result: Any) -> Payload:
    """Return the `result` message for a job: its result as JSON text."""
    text = json.dumps(result, separators=(",", ":"), ensure_ascii=False)
    return {"type": "result", "job_id": job["job_id"], "token": job["token"], "result_json": text}
