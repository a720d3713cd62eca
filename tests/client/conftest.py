"""Fixtures for the client tests: a live server and a real worker process."""

from tests.client.live import live_server, worker_process

__all__ = ["live_server", "worker_process"]
