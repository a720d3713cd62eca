"""The first admin token: made when a server that wants tokens starts on a store that never
had one, and printed once (the store keeps only its digest, so it cannot be shown again)."""

from __future__ import annotations

from rota.auth.tokens import Role, mint
from rota.store.base import Store

FIRST_ADMIN_NAME = "first admin"


async def first_admin_token(store: Store) -> str | None:
    """Return the secret of a new admin token if the store never had a token, else None.

    Servers starting at once on a new store make one between them: only the one whose token
    the store kept prints it.
    """
    if await store.list_tokens():
        return None
    secret, record = mint(
        name=FIRST_ADMIN_NAME, role=Role.ADMIN, binding=None, now=await store.now()
    )
    return secret if await store.create_first_token(record) else None


def first_admin_notice(secret: str) -> str:
    """Return the lines that show the first admin token, and what to do with it."""
    return (
        "This store had no token: here is its first admin token, shown this once.\n"
        f"  {secret}\n"
        "Keep it secret; use it as ROTA_TOKEN (or --token) to make the others with\n"
        "`rota tokens create --name NAME --role client|worker|read|admin`.\n"
    )
