"""Time-ordered ids (UUID version 7) and lease tokens."""

from __future__ import annotations

import os
import secrets
import time


def new_job_id(now_ms: int | None = None) -> str:
    """Return a new UUIDv7: sortable by creation time, unique without coordination."""
    ms = int(time.time() * 1000) if now_ms is None else now_ms
    rand = int.from_bytes(os.urandom(10), "big")
    value = (ms & 0xFFFF_FFFF_FFFF) << 80
    value |= 0x7 << 76  # version 7
    value |= ((rand >> 64) & 0x0FFF) << 64  # 12 random bits
    value |= 0b10 << 62  # RFC 4122 variant
    value |= rand & 0x3FFF_FFFF_FFFF_FFFF  # 62 random bits
    return uuid_text(value)


def uuid_text(value: int) -> str:
    """Return `str(uuid.UUID(int=value))` for a 128-bit value, without making the UUID."""
    if not 0 <= value < 1 << 128:
        raise ValueError("a UUID is a 128-bit unsigned integer")
    h = f"{value:032x}"
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def new_lease_token() -> str:
    """Return a fresh, unguessable lease token."""
    return secrets.token_hex(16)
