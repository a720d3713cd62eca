"""The device's local file: the reminders it holds, and those it rang, so that a restart
loses none and rings none twice.

One occurrence of a reminder is its job id and its due moment (an edited reminder is a new
occurrence). The file is small JSON, replaced atomically on every change (written beside
it, flushed to disk, then renamed over it), so a crash leaves the old file or the new one,
never half of either. Rung occurrences are kept RUNG_KEEP_S, long enough for any
re-delivery of the same occurrence to be answered from the file instead of ringing again.
"""

from __future__ import annotations

import contextlib
import json
import os
import threading
from dataclasses import dataclass
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any, Final

from rota.errors import RotaError
from rota.reminders.model import ReminderSpec, Rung

FORMAT_VERSION: Final = 1
RUNG_KEEP_S: Final = 8 * 86400.0


class HoldingsError(RotaError, OSError):
    """The device's file of held reminders cannot be read or written."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Held:
    """A reminder the device holds: which job, when it is due, and what it says."""

    job_id: str
    due_at: datetime
    spec: ReminderSpec

    @property
    def key(self) -> str:
        """Return the occurrence's key: the job id and the due moment."""
        return occurrence_key(self.job_id, self.due_at)


def occurrence_key(job_id: str, due_at: datetime) -> str:
    """Return the key of one occurrence of a reminder (job id and due moment, UTC)."""
    return f"{job_id}@{due_at.isoformat()}"


class Holdings:
    """The held and the rung reminders, kept in one JSON file. Thread-safe; every change is
    on disk before the call returns."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()
        self._held: dict[str, Held] = {}
        self._rung: dict[str, Rung] = {}

    def load(self) -> None:
        """Read the file (a missing one holds nothing); raise HoldingsError if unreadable."""
        with self._lock:
            try:
                text = self.path.read_text(encoding="utf-8")
            except FileNotFoundError:
                return
            except OSError as exc:
                raise HoldingsError(f"cannot read {self.path}: {exc}") from None
            try:
                data = json.loads(text)
                if not isinstance(data, dict):
                    raise ValueError("not a JSON object")
                if not isinstance(data.get("held"), list) or not isinstance(data.get("rung"), dict):
                    raise ValueError('"held" must be a list and "rung" an object')
                held = [_held_from(item) for item in data["held"]]
                rung = {key: Rung.model_validate(item) for key, item in data["rung"].items()}
            except (ValueError, KeyError, TypeError, RotaError) as exc:
                raise HoldingsError(f"{self.path} is not a device's file: {exc}") from None
            self._held = {item.key: item for item in held}
            self._rung = rung

    def save(self) -> None:
        """Write the file as it is (creating it), so that a device that cannot keep its
        reminders says so when it starts, not when the first one comes; raise HoldingsError."""
        with self._lock:
            self._save()

    def held(self) -> list[Held]:
        """Return the reminders held and not rung yet, soonest first."""
        with self._lock:
            return sorted(self._held.values(), key=lambda item: (item.due_at, item.job_id))

    def rung(self, key: str) -> Rung | None:
        """Return how the occurrence rang, if it did."""
        with self._lock:
            return self._rung.get(key)

    def hold(self, item: Held) -> list[Held]:
        """Keep the reminder (unless this occurrence rang already) and return the other
        occurrences of its job it replaces (an edit moved it)."""
        with self._lock:
            if item.key in self._rung or self._held.get(item.key) == item:
                return []
            replaced = [old for old in self._held.values() if old.job_id == item.job_id]
            for old in replaced:
                del self._held[old.key]
            self._held[item.key] = item
            self._save()
            return replaced

    def drop(self, job_id: str) -> list[Held]:
        """Forget the job's held occurrences (cancelled or given back); return them."""
        with self._lock:
            gone = [item for item in self._held.values() if item.job_id == job_id]
            for item in gone:
                del self._held[item.key]
            if gone:
                self._save()
            return gone

    def mark_rung(self, item: Held, rung: Rung) -> None:
        """Record that the occurrence rang, and stop holding it."""
        with self._lock:
            self._held.pop(item.key, None)
            self._rung[item.key] = rung
            oldest = rung.rung_at - timedelta(seconds=RUNG_KEEP_S)
            self._rung = {key: r for key, r in self._rung.items() if r.rung_at >= oldest}
            self._save()

    def _save(self) -> None:
        data: dict[str, Any] = {
            "version": FORMAT_VERSION,
            "held": [_held_to(item) for item in self._held.values()],
            "rung": {key: rung.model_dump(mode="json") for key, rung in self._rung.items()},
        }
        text = json.dumps(data, ensure_ascii=False, indent=1)
        partial = self.path.with_name(f".{self.path.name}.partial")
        try:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            with partial.open("w", encoding="utf-8") as out:
                out.write(text)
                out.flush()
                os.fsync(out.fileno())
            os.replace(partial, self.path)
            _sync_directory(self.path.parent)
        except OSError as exc:
            raise HoldingsError(f"cannot write {self.path}: {exc}") from None


def _held_to(item: Held) -> dict[str, Any]:
    return {"job_id": item.job_id, "due_at": item.due_at.isoformat(), **item.spec.as_kwargs()}


def _held_from(data: dict[str, Any]) -> Held:
    fields = dict(data)
    job_id, due_at = str(fields.pop("job_id")), datetime.fromisoformat(fields.pop("due_at"))
    if due_at.tzinfo is None:
        raise ValueError("due_at has no time zone")
    return Held(job_id=job_id, due_at=due_at, spec=ReminderSpec.parse(fields))


def _sync_directory(directory: Path) -> None:
    """Make the rename durable where the platform allows opening a directory."""
    with contextlib.suppress(OSError):
        fd = os.open(directory, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
