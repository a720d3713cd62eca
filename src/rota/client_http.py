"""The sync client's lean HTTP/1.1: kept-alive sockets and httptools' parser, no httpx per call.

A sync call through httpx costs about 0.8 to 1.1 ms of the client's CPU (its request and
response models, h11, httpcore's pool). Here a request is one write of bytes built from a
head prepared once per client, and its answer is read into a buffer of the connection and
parsed by llhttp (httptools, which the server's uvicorn uses too): no `http.client`, whose
answer parsing goes through the `email` package. The sync client uses this for plain
`http://` servers that no proxy variable (HTTP_PROXY, ALL_PROXY, minus NO_PROXY) routes
elsewhere, and httpx otherwise (https, proxies, a test transport).

Answers may be sized by Content-Length, chunked (which wins over a Content-Length beside
it), or end where the server closes the connection; interim 1xx answers are skipped. A
connection goes back to the pool unless its answer said `Connection: close` (or was HTTP/1.0
without keep-alive), was framed both ways, or bytes followed it.

Failures are raised as the httpx exceptions the client's retry rules read (see
rota.client_retry): ConnectError when the connection was never made, ConnectTimeout, and
ReadTimeout, ReadError or RemoteProtocolError once the request may have reached the server.
"""

from __future__ import annotations

import json
import re
import select
import socket
import threading
import urllib.request
from collections.abc import Mapping
from typing import Any
from urllib.parse import quote, urlsplit

import httpx
import orjson
from httptools import HttpParserError, HttpParserUpgrade, HttpResponseParser

from rota.json_numbers import has_long_number

USER_AGENT = "rota-client"

READ_SIZE = 65536
"""The most bytes one read of a connection takes (the size of its buffer)."""

MAX_HEAD_BYTES = 65536
"""The longest head (status line and headers) an answer may have; longer is a protocol
error, as a server that never ends its head would otherwise fill the memory."""

MAX_HEADERS = 100
"""The most headers an answer may have (http.client's limit)."""

_BODY_METHODS = frozenset({"PATCH", "POST", "PUT"})
"""Methods whose requests carry a Content-Length even without a body (as http.client)."""

_FRAMING = frozenset({b"content-length", b"transfer-encoding"})
"""The headers that size a body; an answer with neither ends where its connection does."""

_bad_target = re.compile("[\x00-\x20\x7f]").search
_legal_header_name = re.compile(r"[^:\s][^:\r\n]*").fullmatch
_illegal_header_value = re.compile(r"\n(?![ \t])|\r(?![ \t\n])").search


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
        """Return the body's JSON value as json.loads reads it (ValueError when it is not
        JSON)."""
        return json_value(self.content)


def json_value(text: bytes) -> Any:
    """Return the JSON value of `text` as json.loads reads it; ValueError when it is not JSON.

    Read by orjson (a job's answer in a quarter of json's time) where that gives the same
    value: what orjson refuses (NaN, infinities, lone surrogates, a BOM, UTF-16 text) is read
    again by json, which also reads a number that begins with 19 digits (orjson reads an
    integer beyond 64 bits as a float; see has_long_number)."""
    if not has_long_number(text):
        try:
            return orjson.loads(text)
        except orjson.JSONDecodeError:
            pass
    return json.loads(text)


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
        _check_headers(self._headers)
        self._head = _head_lines(self._headers)
        self._idle: list[_Connection] = []
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

        `headers` are sent besides the connection's own (Host, User-Agent, the token), and
        replace those of the same name. ValueError for a path or a header that cannot be
        sent as it is (a control character, a line break)."""
        target = self._prefix + path
        if params:
            target += "?" + _query(params)
        if _bad_target(target):
            raise ValueError(f"URL can't contain control characters: {target!r}")
        if headers:
            _check_headers(headers)
            sent = dict(self._headers)
            sent.update(headers)
            if content is not None:
                sent["Content-Type"] = "application/json"
                sent["Content-Length"] = str(len(content))
            elif method in _BODY_METHODS and not _names(sent, "content-length"):
                sent["Content-Length"] = "0"
            lines = _head_lines(sent)
        elif content is not None:
            lines = (
                f"{self._head}Content-Type: application/json\r\nContent-Length: {len(content)}\r\n"
            )
        elif method in _BODY_METHODS:
            lines = self._head + "Content-Length: 0\r\n"
        else:
            lines = self._head
        message = f"{method} {target} HTTP/1.1\r\n{lines}\r\n".encode("latin-1")
        if content:
            message += content  # head and body leave in one send
        connection = self._take(timeout_s)
        try:
            answer = connection.exchange(message, timeout_s, head_only=method == "HEAD")
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

    def _take(self, timeout_s: float) -> _Connection:
        while True:
            with self._lock:
                connection = self._idle.pop() if self._idle else None
            if connection is None:
                return self._connect(timeout_s)
            if connection.still_open():
                return connection
            connection.close()  # the server closed it while idle (or sent something stray)

    def _give_back(self, connection: _Connection) -> None:
        if connection.reusable:
            with self._lock:
                if not self._closed:
                    self._idle.append(connection)
                    return
        connection.close()  # "Connection: close", bytes after the answer, or closed pool

    def _connect(self, timeout_s: float) -> _Connection:
        try:
            sock = socket.create_connection((self._host, self._port), timeout_s)
        except TimeoutError as exc:
            raise httpx.ConnectTimeout(str(exc)) from exc
        except OSError as exc:
            raise httpx.ConnectError(str(exc)) from exc
        try:
            sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return _Connection(sock, timeout_s)
        except BaseException:
            sock.close()
            raise


class _Connection:
    """One kept-alive connection and the parser of its answers (whose callbacks are this
    object's `on_*` methods). Used by one thread at a time."""

    def __init__(self, sock: socket.socket, timeout_s: float) -> None:
        self.sock = sock
        self.reusable = True
        self._timeout_s = timeout_s
        self._buffer = bytearray(READ_SIZE)
        self._view = memoryview(self._buffer)
        self._poller: Any = None
        if hasattr(select, "poll"):
            self._poller = select.poll()
            self._poller.register(sock, select.POLLIN)
        self._parser = self._new_parser()
        self._head_only = False
        self._answer: Answer | None = None
        self._headers_done = False
        self._reason = b""
        self._headers: list[tuple[bytes, bytes]] = []
        self._parts: list[bytes] = []

    def exchange(self, message: bytes, timeout_s: float, *, head_only: bool) -> Answer:
        """Send a whole request and read its answer; httpx's exceptions on failure (the
        connection is then unusable). `timeout_s` bounds each send and each read."""
        sock = self.sock
        if timeout_s != self._timeout_s:
            sock.settimeout(timeout_s)
            self._timeout_s = timeout_s
        self._answer = None
        self._headers_done = False
        self._head_only = head_only
        received = 0
        try:
            sock.sendall(message)
            while self._answer is None:
                count = sock.recv_into(self._buffer)
                if not count:
                    self._ended(received)
                    break
                received += count
                self._feed(count)
                if received > MAX_HEAD_BYTES and not self._headers_done:
                    raise httpx.RemoteProtocolError(
                        f"the answer's head is longer than {MAX_HEAD_BYTES} bytes"
                    )
        except TimeoutError as exc:
            raise httpx.ReadTimeout(str(exc) or "timed out") from exc
        except OSError as exc:
            raise httpx.ReadError(str(exc)) from exc
        answer = self._answer
        assert answer is not None
        if head_only:  # the parser still expects the body the head announced
            self._parser = self._new_parser()
        return answer

    def _new_parser(self) -> HttpResponseParser:
        """Return a parser of answers calling this connection back. An answer with both
        Content-Length and chunked framing is read by its chunks, as http.client and httpx
        read it (RFC 9112, 6.3), and the connection is not used again."""
        parser = HttpResponseParser(self)
        parser.set_dangerous_leniencies(lenient_chunked_length=True)
        return parser

    def still_open(self) -> bool:
        """Tell whether this idle connection can carry a request: nothing is readable on
        it (a readable idle socket has been closed by the server, or holds bytes nobody
        asked for)."""
        try:
            if self._poller is not None:
                return not self._poller.poll(0)
            readable, _, _ = select.select([self.sock], [], [], 0)
        except (OSError, ValueError):
            return False
        return not readable

    def close(self) -> None:
        """Close the socket (again is a no-op)."""
        self.reusable = False
        self.sock.close()

    def _feed(self, count: int) -> None:
        try:
            self._parser.feed_data(self._view[:count])
        except (HttpParserError, HttpParserUpgrade) as exc:
            if self._answer is None:
                raise httpx.RemoteProtocolError(
                    f"invalid answer: {exc or type(exc).__name__}"
                ) from exc
            self.reusable = False  # bytes after a "Connection: close" answer

    def _ended(self, received: int) -> None:
        """The server closed the connection: the end of an answer whose body lasts until
        then, else a RemoteProtocolError."""
        self.reusable = False
        if not received:
            raise httpx.RemoteProtocolError("Remote end closed connection without response")
        status = self._parser.get_status_code()
        framed = any(name.lower() in _FRAMING for name, _ in self._headers)
        if not self._headers_done or framed or status < 200:
            raise httpx.RemoteProtocolError(
                f"the connection closed after {received} bytes of an unfinished answer"
            )
        self._finish(status)

    def _finish(self, status: int) -> None:
        self._answer = Answer(status, self._reason.decode("latin-1").strip(), b"".join(self._parts))

    # The parser's callbacks, in the order it calls them.

    def on_message_begin(self) -> None:
        """A message begins: the answer, an interim 1xx before it, or bytes after it."""
        if self._answer is not None:
            self.reusable = False  # more than the answer came: the connection is not in step
        self._headers_done = False
        self._reason = b""
        self._headers = []
        self._parts = []

    def on_status(self, reason: bytes) -> None:
        """Take (a piece of) the reason phrase."""
        self._reason += reason

    def on_header(self, name: bytes, value: bytes) -> None:
        """Keep a header (whose name may be in any case)."""
        if len(self._headers) >= MAX_HEADERS:
            raise httpx.RemoteProtocolError(f"more than {MAX_HEADERS} headers")
        self._headers.append((name, value))

    def on_headers_complete(self) -> None:
        """The head is read; the answer to a HEAD request is whole."""
        self._headers_done = True
        if self._head_only and self._answer is None:
            status = self._parser.get_status_code()
            if status >= 200:
                if not self._parser.should_keep_alive():
                    self.reusable = False  # "Connection: close", or no length to go by
                self._finish(status)

    def on_body(self, body: bytes) -> None:
        """Take a piece of the body (chunked bodies come without their chunk framing)."""
        self._parts.append(body)

    def on_message_complete(self) -> None:
        """A message is whole: the answer unless it is an interim 1xx one."""
        if self._answer is not None:
            return  # a HEAD request's answer, or bytes after the answer (see on_message_begin)
        status = self._parser.get_status_code()
        if status < 200:
            return  # 100 Continue, 103 Early Hints: the answer follows
        if not self._parser.should_keep_alive() or _FRAMING <= {
            name.lower() for name, _ in self._headers
        }:
            self.reusable = False  # "Connection: close", or framed both ways
        self._finish(status)


def _head_lines(headers: Mapping[str, str]) -> str:
    """Return the header lines of a request's head, `Accept-Encoding: identity` first unless
    `headers` name an encoding (an answer is never decompressed here)."""
    lines = "".join(f"{name}: {value}\r\n" for name, value in headers.items())
    if _names(headers, "accept-encoding"):
        return lines
    return "Accept-Encoding: identity\r\n" + lines


def _names(headers: Mapping[str, str], name: str) -> bool:
    """Tell whether `headers` hold `name` (given in lower case), in any case."""
    return any(key.lower() == name for key in headers)


def _check_headers(headers: Mapping[str, str]) -> None:
    """Raise ValueError for a header name or value that would break the request's head."""
    for name, value in headers.items():
        if not _legal_header_name(name):
            raise ValueError(f"Invalid header name {name!r}")
        if _illegal_header_value(value):
            raise ValueError(f"Invalid header value {value!r}")


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
