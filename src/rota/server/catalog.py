"""The task names a submission may use: what workers announced, plus the built-ins."""

from __future__ import annotations

from collections.abc import Iterable

from rota.clock import Clock
from rota.errors import UnknownTask
from rota.safe_text import excerpt
from rota.store.base import Store

BUILTIN_TASKS = frozenset(
    {"rota.echo", "rota.sleep", "rota.sha256", "rota.http", "rota.shell", "rota.remind"}
)
TASKS_TTL_S = 1.0
MAX_NAMES_IN_MESSAGE = 20


class TaskCatalog:
    """The task names a submission may use: what workers announced, plus the built-ins."""

    def __init__(self, store: Store, clock: Clock, *, ttl_s: float = TASKS_TTL_S) -> None:
        self._store = store
        self._clock = clock
        self._ttl_s = ttl_s
        self._names: frozenset[str] = frozenset()
        self._read_at: float | None = None

    def invalidate(self) -> None:
        """Forget the cached names (a worker just announced its tasks)."""
        self._read_at = None

    async def names(self, *, fresh: bool = False) -> frozenset[str]:
        """Return every known task name, re-reading the store at most once a TTL."""
        now = self._clock.monotonic()
        if fresh or self._read_at is None or now - self._read_at >= self._ttl_s:
            self._names = frozenset(await self._store.known_tasks()) | BUILTIN_TASKS
            self._read_at = now
        return self._names

    async def check(self, names: Iterable[tuple[str, str]]) -> None:
        """Raise UnknownTask for the first (label, name) whose task nobody announced."""
        pending = list(names)
        known = await self.names()
        if all(name in known for _, name in pending):
            return
        # A worker may have joined another server a moment ago: look once more.
        known = await self.names(fresh=True)
        for label, name in pending:
            if name not in known:
                listed = sorted(known)
                shown = ", ".join(listed[:MAX_NAMES_IN_MESSAGE])
                if len(listed) > MAX_NAMES_IN_MESSAGE:
                    shown += f", ... {len(listed) - MAX_NAMES_IN_MESSAGE} more"
                raise UnknownTask(
                    f"{label}unknown task {excerpt(name)}: no worker has registered it "
                    f"(known: {shown})"
                )
