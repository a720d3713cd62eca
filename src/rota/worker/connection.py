"""A reconnecting WebSocket client: fails over between servers, backs off, one writer.

The worker's side of the sockets: messages go out and come in through the protocol's one
codec, and messages queued together leave in one `batch` frame."""

from __future__ import annotations

import asyncio
import contextlib
import json
import random
import ssl
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidMessage, InvalidStatus
from websockets.http11 import Response

from rota import protocol
from rota.auth.tokens import bearer_header
from rota.client_urls import with_scheme
from rota.errors import InvalidInput, ProtocolError, ServerNotTrusted, WorkerRefused
from rota.protocol import Batch, ServerMessage, WorkerMessage
from rota.safe_text import safe_str
from rota.tls import client_context, tls_error

FIRST_DELAY_S = 0.1
MAX_DELAY_S = 5.0
OPEN_TIMEOUT_S = 10.0
MAX_REASON_CHARS = 500
NO_UPGRADE_STATUSES = frozenset({400, 404, 405, 426})
"""What a server answers a WebSocket handshake that reached it as a plain GET: a proxy in
between dropped the Upgrade and Connection headers."""
MAX_REFUSAL_CHARS = 500
"""The most of a server's refusal message a worker repeats in its log."""


def websocket_url(server_url: str) -> str:
    """Return the worker endpoint of a server given as http(s)://host:port (or ws(s)://, or
    host:port for http://)."""
    parts = urlsplit(with_scheme(server_url))
    scheme = {"http": "ws", "https": "wss", "ws": "ws", "wss": "wss"}.get(parts.scheme)
    if scheme is None or not parts.netloc:
        raise InvalidInput(f"server URL {server_url!r} must look like http://host:port")
    return urlunsplit((scheme, parts.netloc, protocol.WEBSOCKET_PATH, "", ""))


def write_stderr(line: str) -> None:
    """Write one line to stderr; the default place the worker reports to."""
    sys.stderr.write(line + "\n")
    sys.stderr.flush()


class Link:
    """One open connection to a server; messages are written by a single writer task, which
    sends whatever is queued when it comes round in as few frames as fit."""

    def __init__(self, websocket: ClientConnection, url: str) -> None:
        self.url = url
        self._websocket = websocket
        self._outgoing: asyncio.Queue[tuple[bytes, bool]] = asyncio.Queue()
        self._writer = asyncio.create_task(self._write_all(), name=f"rota-writer {url}")

    @property
    def closed(self) -> bool:
        """Tell whether the connection is gone (or going)."""
        return self._writer.done()

    def post(self, message: WorkerMessage) -> None:
        """Queue a message for sending, in order; it is lost if the connection drops. Raise
        ProtocolError if it cannot be encoded."""
        if not self.closed:
            encoded = protocol.encode(message)
            self._outgoing.put_nowait((encoded, protocol.shares_frames(message)))

    def post_encoded(self, encoded: bytes) -> None:
        """Queue a message encoded earlier by protocol.encode (one that may share a frame)."""
        if not self.closed:
            self._outgoing.put_nowait((encoded, True))

    async def recv(self) -> ServerMessage | Batch:
        """Return the next message from the server; raise ConnectionClosed when it is gone,
        ProtocolError when it breaks the protocol."""
        frame = await self._websocket.recv()
        if isinstance(frame, str):
            raise ProtocolError("the server sent a text frame; the protocol uses binary")
        message: ServerMessage | Batch = protocol.decode(frame, protocol.FROM_SERVER_SIDE)
        return message

    async def closed_with(self, timeout_s: float) -> int | None:
        """Wait up to `timeout_s` for the server to close the connection; return the close
        code it sent (None if it has not closed by then, 1006 if it closed without one)."""
        with contextlib.suppress(TimeoutError):
            async with asyncio.timeout(timeout_s):
                await self._websocket.wait_closed()
        code: int | None = self._websocket.close_code
        return code

    async def flushed(self) -> None:
        """Wait until every queued message has been handed to the socket."""
        await self._outgoing.join()

    async def close(self) -> None:
        """Close the connection and stop the writer."""
        self._writer.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await self._writer
        await self._websocket.close()

    async def ping(self) -> None:
        """Send a WebSocket ping after everything queued so far and wait for its pong: the
        server has then read every frame sent before it. Raise ConnectionClosed if the
        connection goes first."""
        await self.flushed()
        pong = await self._websocket.ping()
        await pong

    async def _write_all(self) -> None:
        try:
            while True:
                items = [await self._outgoing.get()]
                while not self._outgoing.empty():  # what was queued meanwhile goes along
                    items.append(self._outgoing.get_nowait())
                try:
                    for frame in protocol.frames_of(items):
                        await self._websocket.send(frame)
                finally:
                    for _ in items:
                        self._outgoing.task_done()
        except ConnectionClosed:
            pass
        finally:
            # Unblock anyone waiting in flushed(): what is left will never be sent.
            while not self._outgoing.empty():
                self._outgoing.get_nowait()
                self._outgoing.task_done()


class Connector:
    """Opens Links to the first server that answers, with exponential backoff and jitter."""

    def __init__(
        self,
        server_urls: Sequence[str],
        *,
        report: Callable[[str], None] = write_stderr,
        first_delay_s: float = FIRST_DELAY_S,
        max_delay_s: float = MAX_DELAY_S,
        ca: Path | None = None,
        token: str | None = None,
    ) -> None:
        """`ca`: the PEM file of the CA(s) wss:// servers are verified with, instead of the
        system's trust store; `token` is sent as `Authorization: Bearer <token>` in every
        handshake. InvalidInput for no URL, a bad URL or an unreadable CA file."""
        if not server_urls:
            raise InvalidInput("a worker needs at least one server URL")
        self._urls = [websocket_url(url) for url in server_urls]
        secure = any(url.startswith("wss://") for url in self._urls)
        self._tls = client_context(ca) if secure or ca is not None else None
        self._report = report
        self._first_delay_s = first_delay_s
        self._max_delay_s = max_delay_s
        self._next = 0
        self._failures = 0
        self._random = random.Random()
        self._headers = bearer_header(token) or None

    def succeeded(self) -> None:
        """Reset the backoff once a session was established."""
        self._failures = 0

    def next_delay_s(self) -> float:
        """Return how long to wait before the next round: doubling, capped, with full jitter."""
        ceiling = min(self._max_delay_s, self._first_delay_s * 2 ** max(0, self._failures - 1))
        return self._random.uniform(ceiling / 2, ceiling)

    async def connect(self) -> Link:
        """Return a Link to the first server that accepts; retry forever, backing off.

        Each round tries every URL once, starting with the one that worked last; a failed
        round waits before the next. Cancel the caller to give up. Raises ServerNotTrusted
        after a round in which no server accepted and one's certificate was refused: that
        does not mend by waiting, and a worker that says so and exits is seen at once. Raises
        WorkerRefused when a server answers the handshake with 401 or 403: this worker is not
        let in, for good.
        """
        while True:
            untrusted: ServerNotTrusted | None = None
            for _ in range(len(self._urls)):
                url = self._urls[self._next]
                try:
                    websocket = await connect(
                        url,
                        max_size=protocol.MAX_FRAME_BYTES,
                        open_timeout=OPEN_TIMEOUT_S,
                        compression=None,
                        ssl=self._tls if url.startswith("wss://") else None,
                        additional_headers=self._headers,
                    )
                except ssl.SSLError as exc:
                    refusal = tls_error(url, exc)
                    self._report(refusal.message)
                    if isinstance(refusal, ServerNotTrusted):
                        untrusted = refusal
                except (OSError, TimeoutError, ConnectionClosed) as exc:
                    self._report(f"cannot connect to {url}: {_describe(exc)}")
                except InvalidMessage as exc:
                    self._report(f"{url} refused the connection: {_describe(exc)}{_plain(url)}")
                except InvalidStatus as exc:
                    status = exc.response.status_code
                    if status in protocol.HTTP_REFUSED_FOR_GOOD:
                        raise WorkerRefused(_refused_for_good(url, exc.response)) from None
                    self._report(_refusal(url, status, exc.response.body))
                except Exception as exc:  # handshake refusals have many types; none is fatal
                    self._report(f"{url} refused the connection: {_describe(exc)}")
                else:
                    return Link(websocket, url)
                self._next = (self._next + 1) % len(self._urls)
            if untrusted is not None:
                raise untrusted
            self._failures += 1
            await asyncio.sleep(self.next_delay_s())

    def failed(self) -> None:
        """Count a session that broke, so the next connect waits longer; try the next URL."""
        self._failures += 1
        self._next = (self._next + 1) % len(self._urls)


def _refusal(url: str, status: int, body: bytes | bytearray | None = None) -> str:
    """Say why a server answered the handshake with `status`, and what to do about it: the
    message of Rota's error body when it sent one (a Host or Origin it refuses)."""
    message = _error_message(body)
    if message is not None:
        return f"{url} refused the connection (HTTP {status}): {message}"
    if status in NO_UPGRADE_STATUSES:
        return (
            f"{url} answered HTTP {status} instead of accepting the WebSocket: a proxy in front "
            "of the server did not pass the upgrade on. Let it through (nginx: "
            "proxy_http_version 1.1 and the Upgrade and Connection headers, see "
            "docs/deploy.md), or point the worker at the servers directly"
        )
    return f"{url} refused the connection: HTTP {status}"


def _plain(url: str) -> str:
    """Return a hint for a ws:// handshake that got no HTTP answer: a TLS port does that."""
    return (
        " (if the server serves TLS, give its URL as https://)" if url.startswith("ws://") else ""
    )


def _refused_for_good(url: str, response: Response) -> str:
    """Say why a server refused the handshake for good: the error its body gives, if any."""
    reason = ""
    with contextlib.suppress(ValueError, KeyError, TypeError):
        body = json.loads(response.body or b"null")
        reason = body["error"]["message"] if isinstance(body, dict) else ""
    if not isinstance(reason, str) or not reason:
        reason = (response.body or b"").decode(errors="replace").strip()[:MAX_REASON_CHARS]
    status = f"HTTP {response.status_code} {response.reason_phrase}".strip()
    return f"{url} refused this worker: {status}" + (f": {reason}" if reason else "")


def _error_message(body: bytes | bytearray | None) -> str | None:
    try:
        message = json.loads(body or b"")["error"]["message"]
    except (ValueError, TypeError, KeyError):
        return None
    if not isinstance(message, str) or not message.strip():
        return None
    return message.strip().splitlines()[0][:MAX_REFUSAL_CHARS]


def _describe(exc: BaseException) -> str:
    text = safe_str(exc) or type(exc).__name__
    return text.splitlines()[0] if text else type(exc).__name__
