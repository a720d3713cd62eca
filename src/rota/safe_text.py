"""Text about values Rota does not control, made safe to put in a message.

User input is quoted as a short excerpt, so a 100 KB cron expression gives a short error, not a
100 KB one. A task's exception is described by its type, its text and its traceback even when
its own `__str__` raises, so a failure is never reported as something else.
"""

from __future__ import annotations

import re
import traceback
from typing import Final

EXCERPT_CHARS: Final = 40


def excerpt(value: object, limit: int = EXCERPT_CHARS) -> str:
    """Return the value quoted (as repr quotes a string), cut to `limit` characters.

    A cut excerpt ends in "…" inside the quotes and says how long the whole was:
    `'00000000…' (5000 characters)`. Never raises.
    """
    text = value if isinstance(value, str) else safe_str(value)
    if len(text) <= limit:
        return repr(text)
    return f"{text[:limit] + '…'!r} ({len(text)} characters)"


def describe_exception(exc: BaseException) -> str:
    """Return "TypeName: text" for an exception (just "TypeName" when it has no text).

    An exception whose `__str__` raises is described as "TypeName: <str() failed: ...>".
    """
    name = type(exc).__name__
    text = safe_str(exc)
    return f"{name}: {text}" if text else name


def format_traceback(exc: BaseException) -> str:
    """Return the exception's traceback as text (as traceback.format_exception does).

    Falls back to the stack and the type name when formatting fails, so it never raises.
    """
    try:
        return "".join(traceback.format_exception(exc))
    except Exception:
        stack = "".join(traceback.format_tb(exc.__traceback__))
        return f"Traceback (most recent call last):\n{stack}{describe_exception(exc)}\n"


def safe_str(value: object) -> str:
    """Return str(value), or "<str() failed: ...>" saying why it raised; never raises."""
    try:
        return str(value)
    except Exception as failure:
        try:
            reason = f"{type(failure).__name__}: {failure}"
        except Exception:
            reason = type(failure).__name__
        return f"<str() failed: {reason}>"


CONTROLS: Final = re.compile("[\x00-\x08\x0b-\x1f\x7f-\x9f]")
"""The characters visible_controls shows as escapes."""


def visible_controls(text: str) -> str:
    """Return the text with its control characters shown as escapes ("\\x1b", "\\x9b"), for
    a terminal: C0 controls but newline and tab, DEL, and C1 controls (U+0080 to U+009F).

    A terminal obeys them, so a value a task or another user wrote could otherwise set the
    window's title, clear the screen or write the clipboard. Every other character, in any
    script, is kept as it is.
    """
    return CONTROLS.sub(_shown, text)


def _shown(match: re.Match[str]) -> str:
    return f"\\x{ord(match.group()):02x}"
