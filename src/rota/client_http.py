"""The sync client's lean HTTP/1.1: kept-alive `http.client` connections, no httpx per call.

A sync call through httpx costs about 0.8 to 1.1 ms of the client's CPU (its request and
response models, h11, httpcore's pool); the same request on a kept-alive
`http.client.HTTPConnection` costs about 0.2 ms, and its headers and body leave in one
write (no Nagle and delayed-ACK stall between them). The sync client uses this for plain
`http://` servers that no proxy variable (HTTP_PROXY, ALL_PROXY, minus NO_PROXY) routes
elsewhere, and httpx otherwise (https, proxies, a test transport).

Failures are raised as the httpx exceptions the client's retry rules read (see
rota.client_retry): ConnectError when the connection was never made, ConnectTimeout, and
ReadTimeout, ReadError or RemoteProtocolError once the request may have reached the server.
"""

from __future__ import annotations

import http.client
import json
import select
import socket
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx

USER_AGENT = "rota-client"


class Answer:
    """A response, read whole: what the client reads of an `httpx.Response`, no more."""

    __slots__ = ("content", "reason_phrase", "status_code")

    def __init__(self, status_code: int, reason_phrase: str, content: bytes) -> None:
        self.status_code = status_code
        self.reason_phrase = reason_phrase
        self.content = content

    @property
    def is_success(self) -> bool:
        """True for a 2xx status."""
        return 200 <= self.status_code < 300

    @property
    def text(self) -> str:
        """Return the body as text (UTF-8; undecodable bytes replaced)."""
        return self.content.decode("utf-8", errors="replace")

    def json(self) -> Any:
        """Return the body's JSON value (ValueError when it is not JSON)."""
        return json.loads(self.content)


def lean_usable(url: str) -> bool:
    """Tell whether requests to `url` may go on a plain connection: http:// without
    credentials in the URL, and no proxy variable of the environment sends them through a
    proxy."""
    parts = urlsplit(url)
    if parts.scheme != "http" or not parts.hostname or parts.username is not None:
        return False  # https, or credentials in the URL (httpx sends them as Basic auth)
    proxies = urllib.request.getproxies()
    if not (proxies.get("http") or proxies.get("all")):
        return True
    return bool(urllib.request.proxy_bypass(parts.hostname))


class LeanHttp:
    """Sends requests to one http:// server on kept-alive connections, one per thread at a
    time (a small pool: safe to use from many threads)."""

    def __init__(self, base_url: str, *, headers: Mapping[str, str]) -> None:
        parts = urlsplit(base_url)
        if parts.scheme != "http" or not parts.hostname:
            raise ValueError(f"not a plain http:// URL: {base_url}")
        self._host = parts.hostname
        self._port = parts.port or 80
        self._prefix = parts.path.rstrip("/")
        self._headers = {
            "Host": parts.netloc,
            "User-Agent": USER_AGENT,
            "Accept": "*/*",
            **headers,
        }
        self._idle: list[http.client.HTTPConnection] = []
        self._lock = threading.Lock()
        self._closed = False

    def request(
        self,
        method: str,
        path: str,
        *,
        content: bytes | None,
        params: Mapping[str, Any] | None,
        timeout_s: float,
        headers: Mapping[str, str] | None = None,
    ) -> Answer:
        """Send one request and return its whole answer; httpx's exceptions on failure.

        `headers` are sent besides the connection's own (Host, User-Agent, the token)."""
        target = self._prefix + path
        if params:
            target += "?" + _query(params)
        sent = dict(self._headers)
        if headers:
            sent.update(headers)
        if content is not None:
            sent["Content-Type"] = "application/json"
            sent["Content-Length"] = str(len(content))
        connection = self._take(timeout_s)
        try:
            answer = _exchange(connection, method, target, content, sent, timeout_s)
        except BaseException:
            connection.close()
            raise
        self._give_back(connection)
        return answer

    def close(self) -> None:
        """Close every idle connection (one in use closes when its call ends)."""
        with self._lock:
            self._closed = True
            idle, self._idle = self._idle, []
        for connection in idle:
            connection.close()

    def _take(self, timeout_s: float) -> http.client.HTTPConnection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(timeout_s)
            if _still_open(connection):
                return connection
            connection.close()  # the server closed it while idle (or sent something stray)

    def _give_back(self, connection: http.client.HTTPConnection) -> None:
        if connection.sock is None:
            return  # the answer said "Connection: close"
        with self._lock:
            if not self._closed:
                self._idle.append(connection)
                return
        connection.close()

    def _connect(self, timeout_s: float) -> http.client.HTTPConnection:
        connection = http.client.HTTPConnection(self._host, self._port, timeout=timeout_s)
        try:
            connection.connect()
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        assert connection.sock is not None
        connection.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        return connection


def _exchange(
    connection: http.client.HTTPConnection,
    method: str,
    target: str,
    content: bytes | None,
    headers: dict[str, str],
    timeout_s: float,
) -> Answer:
    assert connection.sock is not None
    connection.sock.settimeout(timeout_s)
    try:
        # Headers and a bytes body go out in one send (http.client joins them).
        connection.request(method, target, body=content, headers=headers)
        response = connection.getresponse()
        body = response.read()
    except TimeoutError as exc:
        raise httpx.ReadTimeout(str(exc) or "timed out") from exc
    except (http.client.RemoteDisconnected, http.client.IncompleteRead) as exc:
        raise httpx.RemoteProtocolError(str(exc)) from exc
    except http.client.HTTPException as exc:
        raise httpx.RemoteProtocolError(f"{type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise httpx.ReadError(str(exc)) from exc
    if response.will_close:
        connection.close()
    return Answer(response.status, response.reason, body)


def _still_open(connection: http.client.HTTPConnection) -> bool:
    """Tell whether an idle connection can carry a request: nothing is readable on it (a
    readable idle socket has been closed by the server, or holds bytes nobody asked for)."""
    sock = connection.sock
    if sock is None:
        return False
    try:
        if hasattr(select, "poll"):
            poller = select.poll()
            poller.register(sock, select.POLLIN)
            return not poller.poll(0)
        readable, _, _ = select.select([sock], [], [], 0)
    except (OSError, ValueError):
        return False
    return not readable


def _query(params: Mapping[str, Any]) -> str:
    """Return the query string of `params`, each value written as httpx writes it."""
    return "&".join(
        f"{quote(str(name), safe='')}={quote(_text(value), safe='')}"
        for name, value in params.items()
    )


def _text(value: Any) -> str:
    if value is True:
        return "true"
    if value is False:
        return "false"
    if value is None:
        return ""
    return str(value)
