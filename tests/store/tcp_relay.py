"""A TCP relay between a client and a server on this machine, to play network faults.

Tests point a client at the relay and then make the server "go away" (refuse: cut every
connection and refuse new ones), "go silent" (stall: accept bytes, answer nothing) or
"come back" (resume), without touching the real server.
"""

from __future__ import annotations

import asyncio
import contextlib


class TcpRelay:
    """Relays connections from 127.0.0.1:<port> to host:port until told otherwise."""

    def __init__(self, host: str, port: int) -> None:
        self._host = host
        self._port = port
        self._listen_port = 0
        self._server: asyncio.Server | None = None
        self._flowing = asyncio.Event()
        self._flowing.set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._tasks: set[asyncio.Task[None]] = set()

    async def start(self) -> int:
        """Start listening (on a free port the first time) and return the port."""
        self._server = await asyncio.start_server(
            self._serve, "127.0.0.1", self._listen_port, reuse_address=True
        )
        self._listen_port = self._server.sockets[0].getsockname()[1]
        return self._listen_port

    async def refuse(self) -> None:
        """Cut every relayed connection and refuse new ones, as a stopped server would."""
        self._cut()
        await self._settle()

    async def stall(self) -> None:
        """Keep connections open but pass nothing on, as a server behind a dead link."""
        self._flowing.clear()

    async def resume(self) -> None:
        """Relay again, on the same port."""
        self._flowing.set()
        if self._server is None:
            await self.start()

    async def stop(self) -> None:
        """Close everything."""
        self._cut()
        for task in list(self._tasks):
            task.cancel()
        await self._settle()

    def _cut(self) -> None:
        if self._server is not None:
            self._server.close()
            self._server = None
        for writer in list(self._writers):
            writer.transport.abort()

    async def _settle(self) -> None:
        if self._tasks:
            await asyncio.wait(list(self._tasks), timeout=2)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        task = asyncio.current_task()
        assert task is not None
        self._tasks.add(task)
        self._writers.add(writer)
        upstream: asyncio.StreamWriter | None = None
        try:
            await self._flowing.wait()
            up_reader, upstream = await asyncio.open_connection(self._host, self._port)
            self._writers.add(upstream)
            await asyncio.gather(self._pipe(reader, upstream), self._pipe(up_reader, writer))
        except (OSError, asyncio.CancelledError):
            pass
        finally:
            for end in (writer, upstream):
                if end is not None:
                    self._writers.discard(end)
                    end.transport.abort()
            self._tasks.discard(task)

    async def _pipe(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        with contextlib.suppress(OSError):
            while data := await reader.read(65536):
                await self._flowing.wait()
                writer.write(data)
                await writer.drain()
        writer.transport.abort()
