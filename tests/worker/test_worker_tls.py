"""The worker's connector over wss://: it trusts the CA it is given, gives up on a server
whose certificate it refuses (saying which and why), and hints at https:// when a plain
ws:// handshake meets a TLS port."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from pathlib import Path

import pytest
from tests.client.live import LiveServer, free_port, running_server
from tests.tls_files import TlsFiles, make_tls_files

from rota.errors import InvalidInput, ServerNotTrusted
from rota.worker.connection import Connector


@pytest.fixture
def pki(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "pki")


@pytest.fixture
def tls_server(tmp_path: Path, pki: TlsFiles) -> Iterator[LiveServer]:
    with running_server(tmp_path / "rota.db", tls=pki.pair) as live:
        yield live


def connector(urls: list[str], lines: list[str], ca: Path | None = None) -> Connector:
    return Connector(urls, report=lines.append, first_delay_s=0.01, max_delay_s=0.01, ca=ca)


async def test_a_worker_given_the_ca_connects_over_wss(
    tls_server: LiveServer, pki: TlsFiles
) -> None:
    lines: list[str] = []
    link = await connector([tls_server.url], lines, pki.ca).connect()
    try:
        assert link.url.startswith("wss://127.0.0.1:")
    finally:
        await link.close()
        await closed_on_the_server(tls_server)
    assert lines == []


async def closed_on_the_server(live: LiveServer) -> None:
    """Wait until the server has let go of every connection (uvicorn, stopped while a
    socket is still closing, would fail its shutdown)."""
    async with asyncio.timeout(5):
        while live.server.server_state.connections:  # noqa: ASYNC110 (uvicorn keeps a set)
            await asyncio.sleep(0.01)


async def test_a_refused_certificate_ends_the_connect_naming_the_server(
    tls_server: LiveServer,
) -> None:
    lines: list[str] = []
    with pytest.raises(ServerNotTrusted) as info:
        await connector([tls_server.url], lines).connect()
    message = info.value.message
    assert "wss://127.0.0.1:" in message
    assert "unable to get local issuer certificate" in message
    assert "--ca FILE" in message
    assert lines == [message]  # said once as it happened, then raised


async def test_another_server_that_lets_the_worker_in_is_used(
    tls_server: LiveServer, tmp_path: Path
) -> None:
    stranger = make_tls_files(tmp_path / "stranger")
    with running_server(tmp_path / "other.db", tls=stranger.pair) as other:
        lines: list[str] = []
        link = await connector([other.url, tls_server.url], lines, stranger.ca).connect()
        await link.close()
        await closed_on_the_server(other)
    assert link.url.startswith(other.url.replace("https://", "wss://"))
    assert lines == []


async def test_a_round_with_an_untrusted_server_and_a_down_one_ends_the_connect(
    tls_server: LiveServer,
) -> None:
    down = f"https://127.0.0.1:{free_port()}"
    lines: list[str] = []
    with pytest.raises(ServerNotTrusted):
        await connector([down, tls_server.url], lines).connect()
    assert lines[0].startswith("cannot connect to wss://127.0.0.1:")


async def test_plain_ws_to_a_tls_port_hints_at_https(tls_server: LiveServer) -> None:
    lines: list[str] = []
    plain = tls_server.url.replace("https://", "http://")
    worker = connector([plain], lines)
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(2):
            await worker.connect()
    assert lines, "the failed handshake was not reported"
    assert "give its URL as https://" in lines[0]


def test_an_unreadable_ca_stops_the_worker_before_it_connects(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"CA file .*nope\.pem does not exist"):
        Connector(["https://127.0.0.1:1"], ca=tmp_path / "nope.pem")
