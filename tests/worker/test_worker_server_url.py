"""The server a worker connects to, as its settings name it."""

from __future__ import annotations

import pytest

from rota.errors import InvalidInput
from rota.protocol import WEBSOCKET_PATH
from rota.settings import load_settings
from rota.worker.connection import websocket_url


def test_a_server_in_rota_server_without_a_scheme_is_reached_over_ws() -> None:
    """As the CLI's --server and the Python client read it (README: localhost:8077 without a
    scheme means http://localhost:8077)."""
    servers = load_settings(environ={"ROTA_SERVER": "localhost:8077, box:9000"}).worker.server
    assert [websocket_url(url) for url in servers] == [
        f"ws://localhost:8077{WEBSOCKET_PATH}",
        f"ws://box:9000{WEBSOCKET_PATH}",
    ]
    assert websocket_url("https://box:9000/") == f"wss://box:9000{WEBSOCKET_PATH}"


@pytest.mark.parametrize("url", ["ftp://box:21", "http://", ""])
def test_a_server_url_of_another_kind_is_refused(url: str) -> None:
    with pytest.raises(InvalidInput, match="must look like http://host:port"):
        websocket_url(url)
