"""A client or an app given no URL or token reads ROTA_SERVER and ROTA_TOKEN, as the CLI does."""

from __future__ import annotations

import pytest

from rota import AsyncClient, Client, Rota
from rota.client import DEFAULT_URL, server_from, token_from


def test_the_environment_names_the_server_and_the_token() -> None:
    environ = {"ROTA_SERVER": " http://a:1/ , http://b:2", "ROTA_TOKEN": "t0k"}
    assert server_from(environ) == "http://a:1/"
    assert token_from(environ) == "t0k"
    assert (server_from({}), token_from({}), token_from({"ROTA_TOKEN": ""})) == (
        DEFAULT_URL,
        None,
        None,
    )


def test_clients_and_apps_without_a_url_read_the_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("ROTA_SERVER", "http://rota.example:9000")
    monkeypatch.setenv("ROTA_TOKEN", "from-env")
    app = Rota()
    assert (app.url, app.token) == ("http://rota.example:9000", "from-env")
    assert Rota("http://given:1", token="given").token == "given"
    with Client() as client:
        assert client.url == "http://rota.example:9000"
        assert client.async_client._http.headers["Authorization"] == "Bearer from-env"
    given = AsyncClient("http://given:1", token="mine")
    assert given.url == "http://given:1"
    assert given._http.headers["Authorization"] == "Bearer mine"


def test_without_the_environment_the_local_default(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("ROTA_SERVER", raising=False)
    monkeypatch.delenv("ROTA_TOKEN", raising=False)
    assert Rota().url == DEFAULT_URL
    assert "Authorization" not in AsyncClient()._http.headers
