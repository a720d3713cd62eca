"""Migrations: open() applies them all; migrate() afterwards has nothing left to do."""

from __future__ import annotations

from rota.store import Store


async def test_an_open_store_has_nothing_left_to_migrate(store: Store) -> None:
    assert await store.migrate() == 0
    assert await store.migrate() == 0
