"""The Python client over TLS, sync and async, against a real server with a private CA: the
CA it is given is what it trusts, and every way of not trusting or not reaching the server
is an error that says which server and why."""

from __future__ import annotations

import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from rota import AsyncClient, Client, Rota
from rota.client_retry import NO_RETRY, RetryPolicy
from rota.errors import InvalidInput, ServerNotTrusted, ServerUnavailable
from tests.client.live import LiveServer, running_server
from tests.tls_files import TlsFiles, make_tls_files

SLOW_RETRY = RetryPolicy(attempts=4, base_s=2.0, jitter=0.0)
"""A retry policy whose first pause alone (2 s) shows whether a failure was sent again."""


@pytest.fixture
def pki(tmp_path: Path) -> TlsFiles:
    return make_tls_files(tmp_path / "pki", "127.0.0.1")


@pytest.fixture
def tls_server(tmp_path: Path, pki: TlsFiles) -> Iterator[LiveServer]:
    with running_server(tmp_path / "rota.db", strict_tasks=False, tls=pki.pair) as live:
        yield live


@pytest.fixture(autouse=True)
def _no_ca_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROTA_CA", raising=False)


def test_the_sync_client_given_the_ca_submits_over_https(
    tls_server: LiveServer, pki: TlsFiles
) -> None:
    assert tls_server.url.startswith("https://")
    with Client(tls_server.url, ca=pki.ca) as client:
        job = client.submit("rota.echo", ["over tls"])
        assert client.get_job(job["id"])["task"] == "rota.echo"


async def test_the_async_client_given_the_ca_submits_over_https(
    tls_server: LiveServer, pki: TlsFiles
) -> None:
    async with AsyncClient(tls_server.url, ca=str(pki.ca)) as client:
        job = await client.submit("rota.echo", ["over tls"])
        assert (await client.get_job(job["id"]))["task"] == "rota.echo"


def test_the_ca_comes_from_rota_ca_when_none_is_given(
    tls_server: LiveServer, pki: TlsFiles, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("ROTA_CA", str(pki.ca))
    with Client(tls_server.url) as client:
        assert client.health() == {"status": "ok"}


def test_without_the_ca_the_server_is_not_trusted_and_not_asked_again(
    tls_server: LiveServer,
) -> None:
    started = time.monotonic()
    with (
        Client(tls_server.url, retry=SLOW_RETRY) as client,
        pytest.raises(ServerNotTrusted) as info,
    ):
        client.health()
    assert time.monotonic() - started < 2.0, "a refused certificate was tried again"
    message = info.value.message
    assert tls_server.url in message
    assert "unable to get local issuer certificate" in message
    assert "--ca FILE" in message


async def test_the_async_client_without_the_ca_is_refused(tls_server: LiveServer) -> None:
    async with AsyncClient(tls_server.url, retry=SLOW_RETRY) as client:
        with pytest.raises(ServerNotTrusted, match="unable to get local issuer certificate"):
            await client.submit("rota.echo")


def test_a_certificate_for_another_name_is_refused(tls_server: LiveServer, pki: TlsFiles) -> None:
    by_name = tls_server.url.replace("127.0.0.1", "localhost")  # the certificate names the IP
    with Client(by_name, ca=pki.ca, retry=NO_RETRY) as client:
        with pytest.raises(ServerNotTrusted, match="certificate is not valid for 'localhost'"):
            client.health()


def test_the_ca_of_another_pki_is_not_enough(tls_server: LiveServer, tmp_path: Path) -> None:
    stranger = make_tls_files(tmp_path / "stranger")
    with Client(tls_server.url, ca=stranger.ca, retry=NO_RETRY) as client:
        with pytest.raises(ServerNotTrusted):
            client.health()


def test_plain_http_to_a_tls_port_says_to_use_https(tls_server: LiveServer, pki: TlsFiles) -> None:
    plain = tls_server.url.replace("https://", "http://")
    with Client(plain, ca=pki.ca, retry=NO_RETRY) as client:
        with pytest.raises(ServerUnavailable, match="closed the connection without answering"):
            client.health()
    with pytest.raises(ServerUnavailable, match=r"use an https:// URL"):
        Client(plain, retry=NO_RETRY).submit("rota.echo")


def test_https_to_a_plain_port_says_it_does_not_speak_tls(tmp_path: Path, pki: TlsFiles) -> None:
    with running_server(tmp_path / "plain.db") as plain:
        url = plain.url.replace("http://", "https://")
        with Client(url, ca=pki.ca, retry=NO_RETRY) as client:
            with pytest.raises(ServerUnavailable, match="does not speak TLS") as info:
                client.health()
    assert not isinstance(info.value, ServerNotTrusted)


def test_a_ca_file_that_is_missing_is_refused_at_once(tmp_path: Path) -> None:
    with pytest.raises(InvalidInput, match=r"CA file .*missing\.pem does not exist"):
        Client("https://127.0.0.1:1", ca=tmp_path / "missing.pem")


async def test_an_app_given_the_ca_submits_over_https(
    tls_server: LiveServer, pki: TlsFiles
) -> None:
    app = Rota(tls_server.url, ca=pki.ca)
    assert app.client.health() == {"status": "ok"}
    async with app.async_client() as client:
        assert await client.health() == {"status": "ok"}
    app.client.close()
