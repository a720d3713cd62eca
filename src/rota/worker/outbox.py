"""What the worker owes the server: final messages until acked, log lines until sent."""

from __future__ import annotations

from collections.abc import Iterator

from rota.protocol import LogLine

MAX_BUFFERED_LINES = 1000
MAX_MESSAGE_BYTES = 4 * 1024 * 1024
"""The most text one `log` message carries: 1,000 lines of 8 KiB in a script of four bytes a
character would not fit a frame; the rest waits for the next message."""


class Outbox:
    """Unacked `result`, `failure` and `release` messages, one per job, oldest first, each
    kept as the frame bytes it was encoded to once.

    An entry leaves only when the server acks it (ok or not) or declares its lease stale;
    everything in it is sent again after each reconnect.
    """

    def __init__(self) -> None:
        self._messages: dict[str, bytes] = {}

    def put(self, job_id: str, encoded: bytes) -> None:
        """Keep a job's encoded final message, replacing an older one for the same job."""
        self._messages.pop(job_id, None)
        self._messages[job_id] = encoded

    def drop(self, job_id: str) -> bytes | None:
        """Forget the message for a job (acked, or its lease is stale); return it."""
        return self._messages.pop(job_id, None)

    def __iter__(self) -> Iterator[bytes]:
        return iter(list(self._messages.values()))

    def __len__(self) -> int:
        return len(self._messages)

    def __contains__(self, job_id: object) -> bool:
        return job_id in self._messages


class LogBuffer:
    """Log lines of one job waiting to be sent in one `log` message."""

    def __init__(self, limit: int = MAX_BUFFERED_LINES) -> None:
        self._lines: list[LogLine] = []
        self._limit = limit
        self._dropped = 0

    def add(self, at: float, stream: str, message: str) -> None:
        """Keep a line; past the limit the oldest lines go, and a note says how many."""
        self._lines.append(LogLine(at=at, stream=stream, message=message))
        if len(self._lines) > self._limit:
            del self._lines[0]
            self._dropped += 1

    def take(self) -> tuple[LogLine, ...]:
        """Return the oldest buffered lines, as many as fit one `log` message (at least one),
        and keep the rest; call again while the buffer is not empty."""
        size = 0
        count = 0
        for line in self._lines:
            size += _utf8_bound(line.message)
            if count and size > MAX_MESSAGE_BYTES:
                break
            count += 1
        lines, self._lines = self._lines[:count], self._lines[count:]
        if self._dropped and lines:
            note = f"[{self._dropped} earlier log lines were dropped while disconnected]"
            lines.insert(0, LogLine(at=lines[0].at, stream="log", message=note))
            self._dropped = 0
        return tuple(lines)

    def __bool__(self) -> bool:
        return bool(self._lines)


def _utf8_bound(text: str) -> int:
    """Return at most how many bytes the text takes in UTF-8 (cheaply: 4 per non-ASCII)."""
    return len(text) if text.isascii() else 4 * len(text)
