"""A slow network for one test: a network namespace joined to the host by a veth pair, with
every packet held 200 ± 50 ms each way, and processes started inside it; the link can be
cut (a partition) and healed.

The delay is the kernel's (`tc qdisc … netem delay 200ms 50ms` on both ends of the veth)
where the kernel has netem. Where it has not (CONFIG_NET_SCH_NETEM unset, as in some VMs'
kernels), the same delay is applied by a relay on the host's end of the veth: every chunk
read in either direction is held a uniform 150..250 ms (netem's default jitter is uniform
too), in order, before it is passed on. Either way the device's only way to the server is
the veth and the delay. Needs root (CAP_NET_ADMIN); touches only what it creates.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import random
import shutil
import subprocess
import threading
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Final

DELAY_MS: Final = 200
JITTER_MS: Final = 50


def _ip(*args: str, check: bool = True) -> subprocess.CompletedProcess[str]:
    return subprocess.run(["ip", *args], check=check, capture_output=True, text=True)


@dataclass
class SlowLink:
    """The namespace, the addresses on either end, and how the delay is made."""

    namespace: str
    host_ip: str
    device_ip: str
    method: str
    """`tc netem` or `relay` (userspace, when the kernel has no netem)."""
    relay: DelayRelay | None = None
    host_end: str = ""
    """The host's end of the veth pair: taking it down cuts the namespace off."""

    def partition(self) -> None:
        """Cut the namespace off: every packet either way is dropped (the host's end of the
        veth goes down), and open connections hang as they do when a cable is pulled."""
        _ip("link", "set", self.host_end, "down")

    def heal(self) -> None:
        """End the partition: packets flow again, and held-back ones are sent again by TCP."""
        _ip("link", "set", self.host_end, "up")

    def command(self, *args: str) -> list[str]:
        """Return a command line that runs `args` inside the namespace."""
        return ["ip", "netns", "exec", self.namespace, *args]

    def forward(self, target_port: int) -> str:
        """Return an http:// URL on the host's end that reaches 127.0.0.1:target_port
        through the delay (a plain forwarder when netem delays the packets)."""
        assert self.relay is not None
        port = self.relay.add(target_port, delayed=self.method == "relay")
        return f"http://{self.host_ip}:{port}"


def netem_available() -> bool:
    """Tell whether this kernel offers netem (adding it to a throwaway namespace's lo)."""
    probe = f"rota-probe-{os.getpid()}"
    if _ip("netns", "add", probe, check=False).returncode != 0:
        return False
    try:
        added = subprocess.run(
            ["ip", "netns", "exec", probe, "tc", "qdisc", "add", "dev", "lo", "root", "netem"],
            capture_output=True,
            text=True,
        )
        return added.returncode == 0
    finally:
        _ip("netns", "del", probe, check=False)


@contextlib.contextmanager
def slow_link() -> Iterator[SlowLink]:
    """Create the namespace, the veth pair and the delay; remove them all afterwards, and
    kill whatever still runs inside the namespace."""
    for tool in ("ip", "tc"):
        if shutil.which(tool) is None:
            raise RuntimeError(f"the fault tests need `{tool}` (iproute2) and root")
    pid = os.getpid()
    namespace, host_end, device_end = f"rota-faults-{pid}", f"rfh{pid}", f"rfd{pid}"
    block = pid % 16384
    prefix = f"10.{200 + block // 4096}.{(block // 16) % 256}"
    base = (block % 16) * 16
    host_ip, device_ip = f"{prefix}.{base + 1}", f"{prefix}.{base + 2}"
    method = "tc netem" if netem_available() else "relay"
    relay = DelayRelay(host_ip, DELAY_MS / 1000, JITTER_MS / 1000)
    try:
        _ip("netns", "add", namespace)
        _ip("link", "add", host_end, "type", "veth", "peer", "name", device_end)
        _ip("link", "set", device_end, "netns", namespace)
        _ip("addr", "add", f"{host_ip}/28", "dev", host_end)
        _ip("link", "set", host_end, "up")
        inside = ["-n", namespace]
        _ip(*inside, "addr", "add", f"{device_ip}/28", "dev", device_end)
        _ip(*inside, "link", "set", device_end, "up")
        _ip(*inside, "link", "set", "lo", "up")
        if method == "tc netem":
            netem = ["root", "netem", "delay", f"{DELAY_MS}ms", f"{JITTER_MS}ms"]
            subprocess.run(["tc", "qdisc", "add", "dev", host_end, *netem], check=True)
            subprocess.run(
                ["ip", "netns", "exec", namespace, "tc", "qdisc", "add", "dev", device_end, *netem],
                check=True,
            )
        relay.start()
        yield SlowLink(
            namespace=namespace,
            host_ip=host_ip,
            device_ip=device_ip,
            method=method,
            relay=relay,
            host_end=host_end,
        )
    finally:
        relay.stop()
        left = _ip("netns", "pids", namespace, check=False).stdout.split()
        for process_id in left:
            with contextlib.suppress(ProcessLookupError, ValueError):
                os.kill(int(process_id), 9)
        _ip("netns", "del", namespace, check=False)
        _ip("link", "del", host_end, check=False)  # gone with the namespace, unless it failed


@dataclass
class DelayRelay:
    """TCP forwarders on `host` to ports of 127.0.0.1, on a thread of their own; a delayed
    one holds each chunk `delay_s` ± `jitter_s` (uniform) in each direction, in order."""

    host: str
    delay_s: float
    jitter_s: float
    held_s: list[float] = field(default_factory=list)
    """Every hold applied, in seconds: what the report states the delay was."""
    _loop: asyncio.AbstractEventLoop = field(default_factory=asyncio.new_event_loop)
    _thread: threading.Thread | None = None
    _servers: list[asyncio.Server] = field(default_factory=list)
    _writers: set[asyncio.StreamWriter] = field(default_factory=set)

    def start(self) -> None:
        self._thread = threading.Thread(target=self._loop.run_forever, daemon=True)
        self._thread.start()

    def add(self, target_port: int, *, delayed: bool) -> int:
        """Listen on a free port of `host`, forwarding to 127.0.0.1:target_port; return it."""
        future = asyncio.run_coroutine_threadsafe(self._listen(target_port, delayed), self._loop)
        return future.result(10)

    def stop(self) -> None:
        if self._thread is None:
            self._loop.close()
            return

        async def close() -> None:
            for server in self._servers:
                server.close()
            for writer in self._writers:
                writer.transport.abort()
            tasks = [task for task in asyncio.all_tasks() if task is not asyncio.current_task()]
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            for server in self._servers:
                await server.wait_closed()

        with contextlib.suppress(Exception):
            asyncio.run_coroutine_threadsafe(close(), self._loop).result(10)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(10)
        self._loop.close()

    async def _listen(self, target_port: int, delayed: bool) -> int:
        async def accepted(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
            self._writers.add(writer)
            try:
                up_reader, up_writer = await asyncio.open_connection("127.0.0.1", target_port)
            except OSError:
                writer.transport.abort()
                self._writers.discard(writer)
                return
            self._writers.add(up_writer)
            try:
                await asyncio.gather(
                    self._pipe(reader, up_writer, delayed),
                    self._pipe(up_reader, writer, delayed),
                    return_exceptions=True,
                )
            finally:
                for end in (writer, up_writer):
                    end.transport.abort()
                    self._writers.discard(end)

        server = await asyncio.start_server(accepted, self.host, 0)
        self._servers.append(server)
        port: int = server.sockets[0].getsockname()[1]
        return port

    async def _pipe(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, delayed: bool
    ) -> None:
        loop = asyncio.get_running_loop()
        queue: asyncio.Queue[tuple[float, bytes]] = asyncio.Queue()

        async def deliver() -> None:
            while True:
                due, chunk = await queue.get()
                await asyncio.sleep(max(0.0, due - loop.time()))
                if not chunk:
                    break
                writer.write(chunk)
                await writer.drain()

        delivering = asyncio.create_task(deliver())
        last = 0.0
        try:
            while chunk := await reader.read(65536):
                hold = random.uniform(self.delay_s - self.jitter_s, self.delay_s + self.jitter_s)
                if delayed:
                    self.held_s.append(hold)
                last = max(last, loop.time() + (hold if delayed else 0.0))
                queue.put_nowait((last, chunk))
        except OSError:  # the other end was killed: a reset
            pass
        queue.put_nowait((last, b""))
        try:
            with contextlib.suppress(OSError):
                await delivering
        finally:
            delivering.cancel()
        with contextlib.suppress(OSError, RuntimeError):
            writer.write_eof()  # the end passed on, as a FIN is
