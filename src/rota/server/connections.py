"""Timeouts and a per-client limit on every connection the server accepts.

uvicorn closes a connection that idles between two requests, but it sets no limit on a new
connection that never sends a byte, on how long a request's headers or body may take, nor on
how many connections one client may hold: a few hundred sockets that trickle bytes
(slowloris) would hold the server's file descriptors for ever. uvicorn takes its HTTP
protocol as a class (`uvicorn.Config(http=...)`), so the server runs uvicorn's httptools
protocol (the one uvicorn[standard] selects) with these rules added:

- idle: a new connection, and one between requests, is closed after `idle_timeout_s` without
  a byte (uvicorn's keep-alive timer, armed here also when a connection opens);
- headers: from the first byte of a request, its headers must be in within
  `header_timeout_s`, or the server answers 408 and closes the connection;
- body: from the end of the headers, the body must be in within `body_timeout_s` (time in
  which the server itself has stopped reading does not count), or 408 and close;
- a response, however long it lasts (the event stream, a long poll), and a WebSocket once
  upgraded are not limited by these (a WebSocket has its own pings);
- a client address that holds `max_connections_per_client` open connections has its next
  one answered 503 and closed at once. Connections are counted by the peer's address, so
  behind a proxy the proxy is the one client.
"""

from __future__ import annotations

import asyncio
import http
import json
from dataclasses import dataclass
from typing import Any, ClassVar

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol

from rota.settings import ServerSettings


@dataclass(frozen=True, kw_only=True, slots=True)
class ConnectionLimits:
    """How long each part of a request may take, and how many connections a client may hold."""

    header_timeout_s: float
    body_timeout_s: float
    idle_timeout_s: float
    max_per_client: int

    @classmethod
    def of(cls, server: ServerSettings) -> ConnectionLimits:
        """Return the limits the server settings give."""
        return cls(
            header_timeout_s=server.header_timeout_s,
            body_timeout_s=server.body_timeout_s,
            idle_timeout_s=server.idle_timeout_s,
            max_per_client=server.max_connections_per_client,
        )


class OpenConnections:
    """The open connections (their transports) of each client address, up to a limit each."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._by_client: dict[str, set[asyncio.BaseTransport]] = {}

    def admit(self, transport: asyncio.BaseTransport) -> bool:
        """Count a new connection in; False (and not counted) if its client is at the limit."""
        held = self._by_client.setdefault(_client_of(transport), set())
        if len(held) >= self.limit:
            return False
        held.add(transport)
        return True

    def release(self, transport: asyncio.BaseTransport) -> None:
        """Count a closed connection out (a connection not counted in is ignored)."""
        client = _client_of(transport)
        held = self._by_client.get(client)
        if held is None:
            return
        held.discard(transport)
        if not held:
            del self._by_client[client]

    def count(self, client: str) -> int:
        """Return how many connections a client address holds open."""
        return len(self._by_client.get(client, ()))


def _client_of(transport: asyncio.BaseTransport) -> str:
    peer = transport.get_extra_info("peername")
    return str(peer[0]) if isinstance(peer, tuple) and peer else ""


class GuardedHttpProtocol(HttpToolsProtocol):
    """uvicorn's httptools protocol with the module's timeouts and per-client limit.

    Use a subclass made by `protocols()`, which binds the limits and the shared count.
    """

    limits: ClassVar[ConnectionLimits]
    open_connections: ClassVar[OpenConnections]

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.timeout_keep_alive = self.limits.idle_timeout_s  # type: ignore[assignment]
        self._head_timer: asyncio.TimerHandle | None = None
        self._body_timer: asyncio.TimerHandle | None = None
        self._awaiting_head = True

    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        if not self.open_connections.admit(transport):
            self._answer_and_close(
                503,
                "ServerBusy",
                f"this client holds {self.open_connections.limit} connections to the server "
                "already, the most server.max_connections_per_client allows",
            )
            return
        self.timeout_keep_alive_task = self.loop.call_later(
            self.timeout_keep_alive, self.timeout_keep_alive_handler
        )

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_timers()
        self.open_connections.release(self.transport)
        super().connection_lost(exc)

    def data_received(self, data: bytes) -> None:
        if self._awaiting_head and self._head_timer is None and not self.transport.is_closing():
            self._head_timer = self.loop.call_later(
                self.limits.header_timeout_s, self._head_timed_out
            )
        super().data_received(data)

    def on_headers_complete(self) -> None:
        self._cancel_head_timer()
        self._awaiting_head = False
        super().on_headers_complete()
        if not (self.parser.should_upgrade() and self._should_upgrade()):
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_s, self._body_timed_out
            )

    def on_message_complete(self) -> None:
        super().on_message_complete()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._awaiting_head = True  # the next byte starts the next request

    def handle_websocket_upgrade(self) -> None:
        self._cancel_timers()
        super().handle_websocket_upgrade()

    def _head_timed_out(self) -> None:
        self._head_timer = None
        if not self.transport.is_closing():
            self._answer_and_close(
                408,
                "RequestTimeout",
                f"the request's headers took longer than {self.limits.header_timeout_s:g} s "
                "(server.header_timeout_s)",
            )

    def _body_timed_out(self) -> None:
        self._body_timer = None
        if self.transport.is_closing():
            return
        if self.flow.read_paused:  # the server stopped reading, not the client
            self._body_timer = self.loop.call_later(
                self.limits.body_timeout_s, self._body_timed_out
            )
            return
        if self.cycle is not None and self.cycle.response_started:
            self.transport.close()
            return
        self._answer_and_close(
            408,
            "RequestTimeout",
            f"the request's body took longer than {self.limits.body_timeout_s:g} s "
            "(server.body_timeout_s)",
        )

    def _answer_and_close(self, status: int, kind: str, message: str) -> None:
        body = json.dumps({"error": {"type": kind, "message": message}}).encode()
        phrase = http.HTTPStatus(status).phrase
        head = (
            f"HTTP/1.1 {status} {phrase}\r\ncontent-type: application/json\r\n"
            f"content-length: {len(body)}\r\nconnection: close\r\n\r\n"
        )
        self.transport.write(head.encode("ascii") + body)
        self.transport.close()
        self.logger.info("%s: %s", _client_of(self.transport) or "a client", message)

    def _cancel_head_timer(self) -> None:
        if self._head_timer is not None:
            self._head_timer.cancel()
            self._head_timer = None

    def _cancel_timers(self) -> None:
        self._cancel_head_timer()
        if self._body_timer is not None:
            self._body_timer.cancel()
            self._body_timer = None
        self._unset_keepalive_if_required()


class GuardedWebSocketProtocol(WebSocketsSansIOProtocol):
    """uvicorn's WebSocket protocol, counting its connection out of the client's when closed
    (the HTTP protocol it was upgraded from counted it in)."""

    open_connections: ClassVar[OpenConnections]

    def connection_lost(self, exc: Exception | None) -> None:
        super().connection_lost(exc)
        self.open_connections.release(self.transport)


@dataclass(frozen=True, kw_only=True, slots=True)
class Protocols:
    """The protocol classes to give uvicorn.Config as `http=` and `ws=`."""

    http: type[GuardedHttpProtocol]
    ws: type[GuardedWebSocketProtocol]


def protocols(server: ServerSettings) -> Protocols:
    """Return protocol classes bound to the settings' limits, sharing one count of open
    connections (one server's: call it once per server)."""
    limits = ConnectionLimits.of(server)
    open_connections = OpenConnections(limits.max_per_client)
    http_class = type(
        "RotaHttpProtocol",
        (GuardedHttpProtocol,),
        {"limits": limits, "open_connections": open_connections},
    )
    ws_class = type(
        "RotaWebSocketProtocol", (GuardedWebSocketProtocol,), {"open_connections": open_connections}
    )
    return Protocols(http=http_class, ws=ws_class)
