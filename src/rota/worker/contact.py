"""How long a worker cut off from its server may let its code run: the self-fence.

The server extends every lease a heartbeat names to the moment it reads it plus `lease_s`,
and reaps a lease that long without one; the job then runs on another worker. A worker
behind a partition hears nothing of it, so it fences itself: once `lease_s` (less a margin)
has passed since the last heartbeat known to have reached the server, it stops the code of
every attempt it holds. A heartbeat is known to have arrived when the pong of a WebSocket
ping sent after it comes back (one ordered stream: the server read the heartbeat first), and
a welcome confirms the hello's leases the same way. An attempt handed over after the last
confirmed heartbeat counts from the moment it arrived.
"""

from __future__ import annotations

MARGIN = 0.25
"""The share of `lease_s` kept in hand: code is asked to stop that long before the earliest
moment the server could reap its lease, so it has stopped before another worker starts."""


class Contact:
    """The last moment (monotonic seconds) this worker's leases are known to be renewed from."""

    def __init__(self) -> None:
        self._lease_s: float | None = None
        self._confirmed_at = float("-inf")

    def welcomed(self, lease_s: float, hello_sent_at: float) -> None:
        """A server welcomed the worker: its leases last `lease_s`, and the hello's were
        renewed no earlier than when it was sent."""
        self._lease_s = lease_s
        self.confirmed(hello_sent_at)

    def confirmed(self, sent_at: float) -> None:
        """A heartbeat sent at `sent_at` reached the server."""
        self._confirmed_at = max(self._confirmed_at, sent_at)

    def lapsed(self, received_at: float, now: float) -> bool:
        """Tell whether an attempt received at `received_at` may have lost its lease by
        `now`, less the margin (never before the first welcome said how long leases last)."""
        if self._lease_s is None:
            return False
        basis = max(self._confirmed_at, received_at)
        return now >= basis + self._lease_s * (1 - MARGIN)

    @property
    def silent_s(self) -> float:
        """Return how long leases last with no word, less the margin (0 before a welcome)."""
        return (self._lease_s or 0.0) * (1 - MARGIN)
