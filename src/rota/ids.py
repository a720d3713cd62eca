"""Time-ordered ids (UUID version 7) and lease tokens."""

from __future__ import annotations

import os
import secrets
import time
import uuid


def new_job_id(now_ms: int | None = None) -> str:
    """Return a new UUIDv7: sortable by creation time, unique without coordination."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 64) & 0x0FFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
    return str(uuid.UUID(int=value))


def new_lease_token() -> str:
    """Return a fresh, unguessable lease token."""
    return secrets.token_hex(16)
