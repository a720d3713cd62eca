"""Rota's pytest plugin: fixtures to test an app's tasks without running any service.

Tell it which app is under test in pytest's configuration,

    [tool.pytest.ini_options]
    rota_app = "myproject.tasks:app"

or by overriding the `rota_base_app` fixture in a conftest.py. Then:

- `rota_eager`: the app in eager mode (its submissions run at once, in this process);
  the fixture's value is the EagerRunner, which lists the jobs that ran.
- `rota_server`: a real server on an in-memory store, with a worker running the
  app's tasks, in this process (a LocalRota: `.url`, `.client`).
- `rota_app`: the app, pointed at `rota_server` for the test and back afterwards (and
  ROTA_SERVER names that server meanwhile, for code that makes its own client).

Each fixture lasts one test. Rota itself is imported only when a fixture is used.
"""

from __future__ import annotations

import importlib
from collections.abc import Iterator
from typing import TYPE_CHECKING

import pytest

if TYPE_CHECKING:
    from rota.app import Rota
    from rota.testing.eager import EagerRunner
    from rota.testing.local import LocalRota

INI_NAME = "rota_app"


def pytest_addoption(parser: pytest.Parser) -> None:
    """Declare the `rota_app` configuration key."""
    parser.addini(INI_NAME, "the Rota app under test, as module:attribute (myproject.tasks:app)")


@pytest.fixture
def rota_base_app(request: pytest.FixtureRequest) -> Rota:
    """Return the app under test, named by the `rota_app` configuration key.

    Override this fixture to give the app another way.
    """
    from rota.app import Rota

    spec = str(request.config.getini(INI_NAME) or "")
    module_name, _, attribute = spec.partition(":")
    if not module_name or not attribute:
        raise pytest.UsageError(
            f"the Rota fixtures need the app under test: set {INI_NAME} = 'module:attribute' "
            "in pytest's configuration, or override the rota_base_app fixture"
        )
    app = getattr(importlib.import_module(module_name), attribute, None)
    if not isinstance(app, Rota):
        raise pytest.UsageError(f"{INI_NAME} = {spec!r} does not name a Rota app")
    return app


@pytest.fixture
def rota_eager(rota_base_app: Rota) -> Iterator[EagerRunner]:
    """Run the app's submissions eagerly for the test; yield the runner."""
    from rota.testing.eager import eager

    with eager(rota_base_app) as runner:
        yield runner


@pytest.fixture
def rota_server(rota_base_app: Rota) -> Iterator[LocalRota]:
    """Yield a running in-process server and worker for the app's tasks."""
    from rota.testing.local import LocalRota

    with LocalRota(rota_base_app.registry) as server:
        yield server


@pytest.fixture
def rota_app(
    rota_base_app: Rota, rota_server: LocalRota, monkeypatch: pytest.MonkeyPatch
) -> Iterator[Rota]:
    """Yield the app, talking to `rota_server`; its own server and token come back after.

    ROTA_SERVER names `rota_server` during the test too, so that code under test making
    its own `rota.Client()` reaches it.
    """
    app = rota_base_app
    saved = (app.url, app.token)
    app.close()
    app.url, app.token = rota_server.url, None
    monkeypatch.setenv("ROTA_SERVER", rota_server.url)
    monkeypatch.delenv("ROTA_TOKEN", raising=False)
    try:
        yield app
    finally:
        app.close()
        app.url, app.token = saved
