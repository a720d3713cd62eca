"""`rota submit` gives every submission an idempotency key, so the client's retries after a
lost answer never make a second job; `--key` still names one of the caller's choosing."""

from __future__ import annotations

from tests.cli.test_cli_live import RotaCommand, rota

__all__ = ["rota"]


def test_every_cli_submission_carries_its_own_key(rota: RotaCommand) -> None:
    first = rota.job(rota.submit("rota.echo", "1"))
    second = rota.job(rota.submit("rota.echo", "1"))
    assert first["idempotency_key"] and second["idempotency_key"]
    assert first["idempotency_key"] != second["idempotency_key"]
    assert first["id"] != second["id"]
    chosen = rota.job(rota.submit("rota.echo", "1", "--key", "invoice-7"))
    assert chosen["idempotency_key"] == "invoice-7"
