"""The Store contract, tokens: kept by digest only, listed with revoked ones, revoked once
and for good, across a reopen."""

from __future__ import annotations

import asyncio

import pytest

from rota.auth.tokens import Binding, Role, digest_of, mint
from rota.clock import ManualClock
from rota.errors import TokenNotFound
from rota.store import Store

from .conftest import OpenStore


async def test_a_token_is_kept_by_its_digest_and_never_its_secret(
    store: Store, clock: ManualClock
) -> None:
    secret, record = mint(name="ci", role=Role.CLIENT, binding=None, now=clock.now_utc())
    await store.create_token(record)
    [kept] = await store.list_tokens()
    assert kept.id == record.id and kept.name == "ci" and kept.role is Role.CLIENT
    assert kept.digest == digest_of(secret) != secret
    assert secret not in repr(kept)
    assert kept.binding is None and kept.revoked_at is None


async def test_tokens_are_listed_oldest_first_with_their_bindings(
    store: Store, clock: ManualClock
) -> None:
    made = []
    for name, role, binding in [
        ("first", Role.ADMIN, None),
        ("laptop", Role.WORKER, Binding.parse("tag:device:*")),
        ("gpu", Role.WORKER, Binding.parse("name:gpu-?")),
    ]:
        clock.advance(1)
        _, record = mint(name=name, role=role, binding=binding, now=clock.now_utc())
        await store.create_token(record)
        made.append(record)
    kept = await store.list_tokens()
    assert [token.id for token in kept] == [token.id for token in made]
    assert [str(token.binding) for token in kept] == ["None", "tag:device:*", "name:gpu-?"]


async def test_a_revoked_token_stays_listed_revoked_and_revoking_again_changes_nothing(
    store: Store, clock: ManualClock
) -> None:
    _, record = mint(name="old", role=Role.READ, binding=None, now=clock.now_utc())
    await store.create_token(record)
    clock.advance(5)
    revoked = await store.revoke_token(record.id)
    assert revoked.revoked and revoked.revoked_at is not None
    clock.advance(5)
    again = await store.revoke_token(record.id)
    assert again.revoked_at == revoked.revoked_at
    [kept] = await store.list_tokens()
    assert kept.revoked_at == revoked.revoked_at


async def test_revoking_an_unknown_token_is_refused(store: Store) -> None:
    with pytest.raises(TokenNotFound):
        await store.revoke_token("0123456789ab")


async def test_tokens_outlive_a_reopen(open_store: OpenStore, clock: ManualClock) -> None:
    first = await open_store()
    _, record = mint(name="kept", role=Role.WORKER, binding=None, now=clock.now_utc())
    await first.create_token(record)
    await first.revoke_token(record.id)
    await first.close()
    second = await open_store()
    try:
        [kept] = await second.list_tokens()
        assert kept.id == record.id and kept.revoked
    finally:
        await second.close()


async def test_only_the_first_token_of_a_store_is_kept_as_its_first(
    store: Store, clock: ManualClock
) -> None:
    made = [
        mint(name=f"first {n}", role=Role.ADMIN, binding=None, now=clock.now_utc())[1]
        for n in range(20)
    ]
    # As servers starting at once on a new store: one is kept, the others are not.
    kept = await asyncio.gather(*(store.create_first_token(record) for record in made))
    assert kept.count(True) == 1
    assert [token.id for token in await store.list_tokens()] == [made[kept.index(True)].id]
    later = mint(name="later", role=Role.ADMIN, binding=None, now=clock.now_utc())[1]
    assert not await store.create_first_token(later)
