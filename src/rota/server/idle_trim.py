"""Give the C allocator's free memory back to the system once the server falls idle.

A burst of work (a bulk submission, a drain) leaves glibc's heap holding the chunks it
freed, ready for the next burst; SQLite's statements and pages, and the Python objects too
large for Python's own allocator, live there. glibc hands back only what lies at the very
top of the heap, so the rest stays resident while the server sits idle. `malloc_trim(0)`
returns every whole free page of every arena (madvise), at the cost of one walk over the
heap and one system call per run of free pages: a millisecond or less when little is free,
some 20 ms to return 20 MiB scattered in small holes. It runs in a thread, off the event
loop; a thread that allocates meanwhile may wait for the arena being walked.

So the server trims once per idle spell: a check every `interval_s` (0.5 s) counts the
store's change-feed batches (every submission, claim and outcome publishes one); a check
that finds none since the previous check, when there were some since the last trim, trims.
A busy server never trims, an idle one trims once, between 0.5 and 1 s after its last
change. Elsewhere than glibc there is no malloc_trim, and nothing runs.
"""

from __future__ import annotations

import asyncio
import ctypes
import logging
import sys
from collections.abc import Callable, Sequence

from rota.store.feed import Change

logger = logging.getLogger("rota.server.idle_trim")

INTERVAL_S = 0.5
"""How often the server looks whether it fell idle, in seconds."""

Trim = Callable[[], object]
"""Hands the allocator's free memory back to the system (its result is not used)."""


def malloc_trim() -> Trim | None:
    """Return glibc's `malloc_trim(0)` as a function of no arguments; None elsewhere."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        function = ctypes.CDLL(None).malloc_trim
    except (OSError, AttributeError):  # not glibc (musl has none)
        return None
    function.argtypes = [ctypes.c_size_t]
    function.restype = ctypes.c_int
    return lambda: function(0)


class IdleTrim:
    """Counts change-feed batches (subscribe it to the feed) and trims once per idle spell."""

    def __init__(self, trim: Trim, *, interval_s: float = INTERVAL_S) -> None:
        self._trim = trim
        self._interval_s = interval_s
        self.changes = 0
        """Change-feed batches seen so far."""
        self._at_check = 0
        self._at_trim = 0
        self.trims = 0
        """How many times the allocator was trimmed."""

    def __call__(self, changes: Sequence[Change]) -> None:
        """Note a batch of changes (the feed's subscriber: never blocks)."""
        self.changes += 1

    def due(self) -> bool:
        """Tell whether to trim now: no change since the previous call, some since the last
        trim. Each call starts a new interval."""
        quiet = self.changes == self._at_check
        self._at_check = self.changes
        return quiet and self.changes != self._at_trim

    async def check(self) -> bool:
        """Trim (in a thread, off the event loop) if due(); return whether it trimmed."""
        if not self.due():
            return False
        self._at_trim = self.changes
        await asyncio.to_thread(self._trim)
        self.trims += 1
        return True

    async def run(self) -> None:
        """Check every interval until cancelled; a failed trim is logged and not retried."""
        while True:
            await asyncio.sleep(self._interval_s)
            try:
                await self.check()
            except asyncio.CancelledError:
                raise
            except Exception:
                logger.exception("trimming the allocator failed; will not try again")
                return
