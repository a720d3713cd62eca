"""Text about values Rota does not control, made safe to put in a message.

User input is quoted as a short excerpt, so a 100 KB cron expression gives a short error, not a
100 KB one.
"""

from __future__ import annotations

from typing import Final

EXCERPT_CHARS: Final = 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """Return the value quoted (as repr quotes a string), cut to `limit` characters.

    A cut excerpt ends in "…" inside the quotes and says how long the whole was:
    `'00000000…' (5000 characters)`. Never raises.
    """
    text = value if isinstance(value, str) else _safe_str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit] + '…'!r} ({len(text)} characters)"


def _safe_str(value: object) -> str:
    try:
        return str(value)
    except Exception as failure:
        return f"<str() failed: {type(failure).__name__}>"
