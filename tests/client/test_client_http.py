"""The sync client's lean HTTP/1.1 connections (rota.client_http): kept alive, reopened when
the server closed them, failures mapped to the errors the retry rules read."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import httpx
import pytest
from hypothesis import given
from hypothesis import strategies as st

from rota.client_http import MAX_HEAD_BYTES, Answer, LeanHttp, lean_usable
from rota.client_retry import NO_RETRY, RetryPolicy
from rota.errors import JobNotFound, ServerUnavailable
from rota.sync import Client
from tests.client.live import LiveServer, free_port

QUICK = RetryPolicy(attempts=3, base_s=0.01, max_s=0.01, jitter=0)
OK = b'{"status":"ok"}'


def reply(status: str, body: bytes, *, close: bool = False) -> bytes:
    extra = b"Connection: close\r\n" if close else b""
    return (
        f"HTTP/1.1 {status}\r\nContent-Type: application/json\r\n".encode()
        + extra
        + f"Content-Length: {len(body)}\r\n\r\n".encode()
        + body
    )


def read_request(conn: socket.socket) -> bytes:
    """Read one request (head and a Content-Length body); b"" when the client closed."""
    data = b""
    while b"\r\n\r\n" not in data:
        chunk = conn.recv(65536)
        if not chunk:
            return b""
        data += chunk
    head, _, body = data.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(body) < length:
        body += conn.recv(65536)
    return head + b"\r\n\r\n" + body


@contextmanager
def scripted_server(
    handle: Callable[[socket.socket, int], None],
) -> Iterator[tuple[str, list[int]]]:
    """Serve each accepted connection with `handle(conn, number)` in a thread; yield the
    URL and the list of connection numbers accepted."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen()
    listener.settimeout(0.2)
    accepted: list[int] = []
    stop = threading.Event()

    def serve() -> None:
        while not stop.is_set():
            try:
                conn, _ = listener.accept()
            except TimeoutError:
                continue
            accepted.append(len(accepted) + 1)
            with conn:
                handle(conn, accepted[-1])

    thread = threading.Thread(target=serve, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{listener.getsockname()[1]}", accepted
    finally:
        stop.set()
        thread.join(5)
        listener.close()


def test_requests_share_one_kept_alive_connection(live_server: LiveServer) -> None:
    with Client(live_server.url) as client:
        core = client.async_client
        assert core._lean is not None  # type: ignore[attr-defined]
        for _ in range(5):
            assert client.health()["status"] == "ok"
        with pytest.raises(JobNotFound):
            client.get_job("0190d1c2-0000-7000-8000-000000000000")
        assert len(core._lean._idle) == 1  # type: ignore[attr-defined]


def test_a_connection_the_server_closed_while_idle_is_opened_again() -> None:
    closed = threading.Event()

    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(reply("200 OK", OK))
        conn.close()  # keep-alive or not, as a server's idle timeout does
        closed.set()

    with scripted_server(handle) as (url, accepted), Client(url, retry=NO_RETRY) as client:
        assert client.health() == {"status": "ok"}
        assert closed.wait(5)
        assert client.health() == {"status": "ok"}  # not an error: a fresh connection
    assert accepted == [1, 2]


def test_connection_close_in_an_answer_is_obeyed() -> None:
    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(reply("200 OK", OK, close=True))

    with scripted_server(handle) as (url, accepted), Client(url, retry=NO_RETRY) as client:
        for _ in range(3):
            assert client.health() == {"status": "ok"}
    assert accepted == [1, 2, 3]


def test_query_parameters_are_written_as_httpx_writes_them() -> None:
    seen: list[bytes] = []

    def handle(conn: socket.socket, number: int) -> None:
        while request := read_request(conn):
            seen.append(request.split(b"\r\n")[0])
            conn.sendall(reply("200 OK", b'{"events":[]}'))

    with scripted_server(handle) as (url, _), Client(url, retry=NO_RETRY) as client:
        lean = client.async_client._lean  # type: ignore[attr-defined]
        lean.request(
            "GET", "/x", content=None, params={"a": True, "b": "x y&z", "c": 1.5}, timeout_s=5
        )
        assert client.events("j 1", after=3) == []
    assert seen == [
        b"GET /api/v1/x?a=true&b=x%20y%26z&c=1.5 HTTP/1.1",
        b"GET /api/v1/jobs/j%201/events?after=3 HTTP/1.1",
    ]


def test_the_token_is_sent_and_no_compressed_answer_is_asked_for() -> None:
    heads: list[bytes] = []

    def handle(conn: socket.socket, number: int) -> None:
        while request := read_request(conn):
            heads.append(request.lower())
            conn.sendall(reply("201 Created", b'{"id":"j1"}'))

    with (
        scripted_server(handle) as (url, _),
        Client(url, token="s3cret", retry=NO_RETRY) as client,
    ):
        assert client.submit("app.add", [1, 2])["id"] == "j1"
    [head] = heads
    assert b"authorization: bearer s3cret\r\n" in head
    assert b"content-type: application/json\r\n" in head
    assert b"gzip" not in head, "a compressed answer would not be decoded"
    assert head.startswith(b"post /api/v1/jobs http/1.1\r\n")


@pytest.mark.parametrize(
    "sent", [b"", reply("200 OK", OK)[:-3]], ids=["never comes", "stops halfway"]
)
def test_an_answer_that_never_ends_is_server_unavailable_in_time(sent: bytes) -> None:
    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(sent)
        conn.recv(1)  # until the client gives up and closes

    with (
        scripted_server(handle) as (url, _),
        Client(url, timeout_s=0.3, retry=NO_RETRY) as client,
        pytest.raises(ServerUnavailable, match="did not answer in time"),
    ):
        client.health()


def test_a_submission_whose_answer_was_lost_is_sent_again() -> None:
    # The first connection dies after reading the request, as when the server is killed.
    bodies: list[bytes] = []

    def handle(conn: socket.socket, number: int) -> None:
        request = read_request(conn)
        bodies.append(request.partition(b"\r\n\r\n")[2])
        if number == 1:
            return
        conn.sendall(reply("201 Created", b'{"id":"j1"}'))

    with scripted_server(handle) as (url, accepted), Client(url, retry=QUICK) as client:
        assert client.submit("app.add", [1, 2])["id"] == "j1"
    assert accepted == [1, 2]
    assert bodies[0] == bodies[1], "the same body, idempotency key included"


def test_a_refused_connection_is_server_unavailable() -> None:
    url = f"http://127.0.0.1:{free_port()}"
    with Client(url, retry=NO_RETRY) as client, pytest.raises(ServerUnavailable, match="reach"):
        client.cancel("j1")


def test_a_proxy_variable_keeps_httpx(monkeypatch: pytest.MonkeyPatch) -> None:
    assert lean_usable("http://10.0.0.1:8077")
    assert not lean_usable("https://rota.example:8077")
    assert not lean_usable("http://user:secret@10.0.0.1:8077")
    monkeypatch.setenv("HTTP_PROXY", "http://proxy.example:3128")
    monkeypatch.setenv("NO_PROXY", "localhost")
    assert not lean_usable("http://10.0.0.1:8077")
    assert lean_usable("http://localhost:8077")
    with Client("http://10.0.0.1:8077") as client:
        assert client.async_client._lean is None  # type: ignore[attr-defined]


def test_only_plain_http_urls_are_accepted() -> None:
    with pytest.raises(ValueError, match="http://"):
        LeanHttp("https://rota.example/api/v1", headers={})


def lean_of(client: Client) -> LeanHttp:
    lean = client.async_client._lean  # type: ignore[attr-defined]
    assert isinstance(lean, LeanHttp)
    return lean


def get(client: Client, path: str = "/healthz", method: str = "GET") -> tuple[int, str, bytes]:
    """Send one request on the client's lean connections; its status, reason and body."""
    answer = lean_of(client).request(method, path, content=None, params=None, timeout_s=5)
    return answer.status_code, answer.reason_phrase, answer.content


def answering(*answers: bytes) -> Callable[[socket.socket, int], None]:
    """A handler that answers the requests of each connection with `answers`, in turn."""

    def handle(conn: socket.socket, number: int) -> None:
        for answer in answers:
            if not read_request(conn):
                return
            conn.sendall(answer)
        read_request(conn)  # until the client closes

    return handle


def test_a_chunked_answer_is_read_whole_and_the_connection_kept() -> None:
    chunked = (
        b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n"
        b'4\r\n{"st\r\n'
        b'6;name=value\r\natus":\r\n'  # a chunk extension, ignored
        b'5\r\n"ok"}\r\n'
        b"0\r\nTrailer: x\r\n\r\n"
    )
    with (
        scripted_server(answering(chunked, chunked)) as (url, accepted),
        Client(url, retry=NO_RETRY) as client,
    ):
        assert client.health() == {"status": "ok"}
        assert client.health() == {"status": "ok"}
    assert accepted == [1]


def test_an_answer_that_arrives_a_byte_at_a_time_is_read_whole() -> None:
    body = b'{"status":"ok","padding":"' + b"x" * 40 + b'"}'

    def handle(conn: socket.socket, number: int) -> None:
        conn.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        for _ in range(2):
            read_request(conn)
            for byte in reply("200 Fine Thanks", body):
                conn.sendall(bytes([byte]))
                time.sleep(0.0005)
        read_request(conn)

    with scripted_server(handle) as (url, accepted), Client(url, retry=NO_RETRY) as client:
        assert get(client) == (200, "Fine Thanks", body)
        assert get(client) == (200, "Fine Thanks", body)
    assert accepted == [1]


def test_header_names_are_read_in_any_case() -> None:
    shouting = b"HTTP/1.1 200 OK\r\ncontent-LENGTH: 15\r\nCONNECTION: CLOSE\r\n\r\n" + OK
    with (
        scripted_server(answering(shouting)) as (url, accepted),
        Client(url, retry=NO_RETRY) as client,
    ):
        assert get(client) == (200, "OK", OK)
        assert get(client) == (200, "OK", OK)
    assert accepted == [1, 2], "each answer said close: a fresh connection for each"


def test_an_answer_without_a_length_ends_where_its_connection_does() -> None:
    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(b"HTTP/1.0 200 OK\r\nContent-Type: application/json\r\n\r\n" + OK)

    with scripted_server(handle) as (url, accepted), Client(url, retry=NO_RETRY) as client:
        assert get(client) == (200, "OK", OK)
        assert get(client) == (200, "OK", OK)
    assert accepted == [1, 2]


def test_an_interim_answer_before_the_answer_is_skipped() -> None:
    early = b"HTTP/1.1 103 Early Hints\r\nLink: </style.css>; rel=preload\r\n\r\n"

    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(early + reply("200 OK", OK))  # in one piece
        read_request(conn)
        conn.sendall(early)  # in two
        time.sleep(0.05)
        conn.sendall(reply("200 OK", OK))
        read_request(conn)

    with scripted_server(handle) as (url, accepted), Client(url, retry=NO_RETRY) as client:
        assert get(client) == (200, "OK", OK)
        assert get(client) == (200, "OK", OK)
    assert accepted == [1]


def test_an_answer_without_a_body_keeps_the_connection() -> None:
    no_content = b"HTTP/1.1 204 No Content\r\n\r\n"
    head = reply("200 OK", OK).partition(b"\r\n\r\n")[0] + b"\r\n\r\n"  # no body to HEAD
    with (
        scripted_server(answering(no_content, head, reply("200 OK", OK))) as (url, accepted),
        Client(url, retry=NO_RETRY) as client,
    ):
        assert get(client, method="DELETE") == (204, "No Content", b"")
        assert get(client, method="HEAD") == (200, "OK", b"")
        assert get(client) == (200, "OK", OK)
    assert accepted == [1]


def test_an_answer_to_head_that_says_close_is_not_kept() -> None:
    head = reply("200 OK", OK, close=True).partition(b"\r\n\r\n")[0] + b"\r\n\r\n"

    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        if number == 1:
            conn.sendall(head)
            time.sleep(0.3)  # closes late: a kept connection would still look open
        else:
            conn.sendall(reply("200 OK", OK))

    with scripted_server(handle) as (url, accepted), Client(url, retry=NO_RETRY) as client:
        assert get(client, method="HEAD") == (200, "OK", b"")
        assert get(client) == (200, "OK", OK)  # on a new connection, not the closing one
    assert accepted == [1, 2]


def test_an_answer_with_a_length_and_chunked_is_read_by_its_chunks() -> None:
    # As http.client and httpx read it (RFC 9112, 6.3: Transfer-Encoding overrides
    # Content-Length), on a connection not used again (the framing was ambiguous).
    both = (
        b"HTTP/1.1 200 OK\r\nContent-Length: 100\r\nTransfer-Encoding: chunked\r\n\r\n"
        b"f\r\n" + OK + b"\r\n0\r\n\r\n"
    )
    with (
        scripted_server(answering(both, both)) as (url, accepted),
        Client(url, retry=NO_RETRY) as client,
    ):
        assert get(client) == (200, "OK", OK)
        assert get(client) == (200, "OK", OK)
    assert accepted == [1, 2]


def test_bytes_after_an_answer_are_not_taken_for_the_next_one() -> None:
    stray = reply("200 OK", OK) + reply("200 OK", b'{"status":"stray"}')
    with (
        scripted_server(answering(stray)) as (url, accepted),
        Client(url, retry=NO_RETRY) as client,
    ):
        assert client.health() == {"status": "ok"}
        assert client.health() == {"status": "ok"}
    assert accepted == [1, 2]


@pytest.mark.parametrize(
    "cut",
    [
        pytest.param(b"HTTP/1.1 200 OK\r\nContent-Le", id="in the head"),
        pytest.param(reply("200 OK", OK)[:-3], id="in a sized body"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nabcde\r\n",
            id="in a chunked body",
        ),
        pytest.param(b"HTTP/1.1 103 Early Hints\r\n\r\n", id="after an interim answer"),
    ],
)
def test_a_connection_closed_in_the_middle_of_an_answer_is_a_protocol_error(cut: bytes) -> None:
    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(cut)

    with (
        scripted_server(handle) as (url, _),
        Client(url, retry=NO_RETRY) as client,
        pytest.raises(httpx.RemoteProtocolError, match="closed"),
    ):
        get(client)


def test_a_read_retried_after_a_cut_answer_goes_on_a_fresh_connection() -> None:
    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        if number == 1:
            conn.sendall(reply("200 OK", OK)[:-3])
            return  # closed mid-answer
        conn.sendall(reply("200 OK", OK))
        read_request(conn)

    with scripted_server(handle) as (url, accepted), Client(url, retry=QUICK) as client:
        assert client.health() == {"status": "ok"}
    assert accepted == [1, 2]


@pytest.mark.parametrize(
    "answer",
    [
        pytest.param(b"\x15\x03\x01\x00\x02\x02\x50", id="a TLS alert"),
        pytest.param(b"HTTP/1.1 2000 OK\r\n\r\n", id="a bad status"),
        pytest.param(
            b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\nContent-Length: 3\r\n\r\n{}",
            id="two lengths",
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n" + b"X-Pad: y\r\n" * 101 + b"\r\n", id="too many headers"
        ),
        pytest.param(
            b"HTTP/1.1 200 OK\r\n" + b"X-Pad: " + b"y" * MAX_HEAD_BYTES, id="an endless head"
        ),
    ],
)
def test_an_answer_that_is_not_http_is_a_protocol_error(answer: bytes) -> None:
    def handle(conn: socket.socket, number: int) -> None:
        read_request(conn)
        conn.sendall(answer)
        read_request(conn)

    with (
        scripted_server(handle) as (url, _),
        Client(url, retry=NO_RETRY) as client,
        pytest.raises(httpx.RemoteProtocolError),
    ):
        get(client)


def test_a_request_head_that_could_break_the_request_is_refused() -> None:
    lean = LeanHttp("http://127.0.0.1:9/api/v1", headers={})
    with pytest.raises(ValueError, match="control characters"):
        lean.request("GET", "/a b", content=None, params=None, timeout_s=1)
    with pytest.raises(ValueError, match="header value"):
        lean.request(
            "GET", "/a", content=None, params=None, timeout_s=1, headers={"X": "1\r\nY: 2"}
        )
    with pytest.raises(ValueError, match="header name"):
        lean.request("GET", "/a", content=None, params=None, timeout_s=1, headers={"X:": "1"})


JSON_VALUES = st.recursive(
    st.none()
    | st.booleans()
    | st.integers()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats()
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=12,
)


@pytest.mark.parametrize(
    "text",
    [
        b"18446744073709551616",  # orjson reads it as a float
        b'{"result":[1,-123456789012345678901234567890]}',
        b"1e400",
        b'[NaN,Infinity,-Infinity,"\\ud800"]',
        b'\xef\xbb\xbf{"status":"ok"}',
        '{"status":"ok"}'.encode("utf-16"),
        b'{"a":1,"a":2,"b":-0,"c":-0.0,"d":0.1,"e":"1234567890123456789012"}',
    ],
)
def test_an_answer_is_read_as_json_reads_it(text: bytes) -> None:
    assert repr(Answer(200, "OK", text).json()) == repr(json.loads(text))


@given(JSON_VALUES, st.booleans())
def test_any_json_answer_is_read_as_json_reads_it(value: object, ascii_only: bool) -> None:
    text = json.dumps(value, ensure_ascii=ascii_only).encode("utf-8", "surrogatepass")
    assert repr(Answer(200, "OK", text).json()) == repr(json.loads(text))


@pytest.mark.parametrize("text", [b"", b"{", b"nope", b'{"a":1}x', b"\xff"])
def test_an_answer_that_is_not_json_is_a_value_error(text: bytes) -> None:
    with pytest.raises(ValueError):
        Answer(200, "OK", text).json()
