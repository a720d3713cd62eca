"""Tokens as rows, for both SQL stores: the columns of a new token and a row read back.

Times are given and taken by the caller, which knows its store's column type (integer
microseconds in SQLite, timestamptz in PostgreSQL).
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from rota.auth.tokens import Binding, Role, TokenRecord


def token_columns(record: TokenRecord) -> dict[str, Any]:
    """Return a new token's columns but created_at: id, name, role, digest, binding."""
    return {
        "id": record.id,
        "name": record.name,
        "role": record.role.value,
        "digest": record.digest,
        "binding": None if record.binding is None else str(record.binding),
    }


def row_to_token(row: Any, *, created_at: datetime, revoked_at: datetime | None) -> TokenRecord:
    """Return the token of a row of the tokens table (any row readable by column name)."""
    binding = row["binding"]
    return TokenRecord(
        id=row["id"],
        name=row["name"],
        role=Role(row["role"]),
        digest=row["digest"],
        binding=None if binding is None else Binding.parse(binding),
        created_at=created_at,
        revoked_at=revoked_at,
    )
