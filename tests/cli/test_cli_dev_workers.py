"""What `rota dev` hands the workers it starts."""

from __future__ import annotations

from rota.cli.dev import worker_arguments
from rota.settings import settings_of


def test_dev_passes_allow_shell_and_allow_http_to_its_workers() -> None:
    settings = settings_of({"allow_shell": True, "allow_http": "api.example.com, *.internal.net"})
    arguments = worker_arguments(settings.worker, "http://127.0.0.1:8077")
    assert "--allow-shell" in arguments
    at = arguments.index("--allow-http")
    assert arguments[at + 1] == "api.example.com,*.internal.net"


def test_dev_workers_allow_nothing_unless_told() -> None:
    arguments = worker_arguments(settings_of({}).worker, "http://127.0.0.1:8077")
    assert "--allow-shell" not in arguments
    assert "--allow-http" not in arguments
    assert arguments[:2] == ["--server", "http://127.0.0.1:8077"]
