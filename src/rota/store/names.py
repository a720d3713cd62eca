"""One live connection per worker name, across every server that shares a store.

A worker's entry keeps the digest of the session secret its connection's welcome gave it
(`WorkerInfo.session_digest`; never the secret). A hello claims the name with a NameClaim;
the store refuses the claim, atomically with the registration it would make, when a live
connection elsewhere holds the name (`held_elsewhere`): an entry that is online or
draining, heard from within `live_s`, registered by another server, and whose session is
not the one the hello presents. This server's own connections are checked by its
dispatcher, which knows them for certain; an entry of this server's without a connection
there is a leftover.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Protocol


@dataclass(frozen=True, kw_only=True, slots=True)
class NameClaim:
    """A hello's claim to a worker name, checked against the connection that holds it."""

    live_s: float
    """How recently (s) an entry must have been heard from to hold its name: longer than
    the silence after which a server closes a worker's connection."""
    presented: str | None = None
    """The digest of the session secret the hello presents; None when it presents none."""


@dataclass(frozen=True, kw_only=True, slots=True)
class NameHeld:
    """A refused claim: the name's holder as the store found it (either may be unknown)."""

    server: str | None
    last_seen_at: datetime | None

    def free_in_s(self, live_s: float, now: datetime) -> int:
        """Return in how many whole seconds (1 to ceil(live_s)) the name is free, should
        its holder stay silent from now on."""
        longest = max(1, math.ceil(live_s))
        if self.last_seen_at is None:
            return longest
        left_s = live_s - (now - self.last_seen_at).total_seconds()
        return min(longest, max(1, math.ceil(left_s)))


class Holder(Protocol):
    """What decides whether an entry holds its name (a WorkerInfo has it)."""

    @property
    def state(self) -> str: ...
    @property
    def server(self) -> str | None: ...
    @property
    def session_digest(self) -> str | None: ...
    @property
    def last_seen_at(self) -> datetime | None: ...


def held_elsewhere(holder: Holder, claim: NameClaim, *, server: str | None, now: datetime) -> bool:
    """Tell whether `holder` (the name's entry) keeps the name from a claim made through
    `server` at `now`: it is online or draining, heard from less than claim.live_s ago,
    registered by another server (an unknown one counts as another), and holds a session
    other than the one the claim presents.

    The PostgreSQL store states the same rule in SQL (its register_worker query).
    """
    if holder.state == "offline" or holder.last_seen_at is None:
        return False
    if server is not None and holder.server == server:
        return False
    if claim.presented is not None and holder.session_digest == claim.presented:
        return False
    return now - holder.last_seen_at < timedelta(seconds=claim.live_s)
