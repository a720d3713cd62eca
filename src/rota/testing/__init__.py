"""Test your tasks without services: an eager mode, an in-process server, pytest fixtures.

- `eager(app)`: submissions run at once in this process (see rota.testing.eager).
- `LocalRota(app.registry)`: a real server and worker in this process (rota.testing.local).
- The pytest plugin (installed with Rota) gives the fixtures `rota_eager`, `rota_server`
  and `rota_app`; see docs/testing.md.
"""

from rota.testing.eager import EagerRunner, eager
from rota.testing.local import LocalRota

__all__ = ["EagerRunner", "LocalRota", "eager"]
