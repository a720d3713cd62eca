"""A client or an app given no URL or token reads ROTA_SERVER and ROTA_TOKEN, as the CLI does."""

from __future__ import annotations

import pytest

from rota import AsyncClient, Client, Rota
from rota.client import DEFAULT_URL, server_from, token_from
from rota.errors import InvalidInput


def test_the_environment_names_the_server_and_the_token() -> None:
    environ = {"ROTA_SERVER": " http://a:1/ , http://b:2", "ROTA_TOKEN": "t0k"}
    assert server_from(environ) == "http://a:1/"
    assert token_from(environ) == "t0k"
    assert (server_from({}), token_from({}), token_from({"ROTA_TOKEN": ""})) == (
        DEFAULT_URL,
        None,
        None,
    )


def test_a_server_in_the_environment_without_a_scheme_is_reached_over_http(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert server_from({"ROTA_SERVER": "localhost:8077,b:2"}) == "http://localhost:8077"
    assert server_from({"ROTA_SERVER": "https://box:8077"}) == "https://box:8077"
    monkeypatch.setenv("ROTA_SERVER", "box:9000")  # as the CLI reads it
    assert Rota().url == "http://box:9000"
    with Client() as client:
        assert client.url == "http://box:9000"


async def test_a_url_given_without_a_scheme_is_reached_over_http() -> None:
    """As in ROTA_SERVER and on the command line: one rule wherever a server is named."""
    assert Rota("box:9000").url == "http://box:9000"
    with Client("box:9000/") as client:
        assert client.url == "http://box:9000"
    async with AsyncClient(" box:9000 ") as async_client:
        assert async_client.url == "http://box:9000"
    assert Rota("https://box:9000").url == "https://box:9000"


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


def test_a_token_with_a_line_ending_is_trimmed_and_a_control_character_refused_unseen() -> None:
    # A token read from a file or an env file often ends in "\n" or "\r\n".
    secret = "rota_0123456789ab_" + "k" * 43
    given = AsyncClient("http://given:1", token=f" {secret}\r\n")
    assert given._http.headers["Authorization"] == f"Bearer {secret}"
    for bad in (f"{secret}\x01", f"rota_{secret}\nX-Evil: 1", f"{secret}é"):
        with pytest.raises(InvalidInput) as refused:
            AsyncClient("http://given:1", token=bad)
        assert secret not in str(refused.value) and "token" in str(refused.value)
