"""Read a calendar file from a path or an http(s) URL, with a size limit and a timeout."""

from __future__ import annotations

import time
from pathlib import Path
from typing import Final

import httpx

from rota.errors import InvalidInput

MAX_FETCH_BYTES: Final = 16 * 1024 * 1024
FETCH_TIMEOUT_S: Final = 20.0


def is_url(source: str) -> bool:
    """Tell whether the source names an http(s) URL rather than a file."""
    return source.lower().startswith(("http://", "https://", "webcal://"))


def fetch_url(
    url: str, *, max_bytes: int = MAX_FETCH_BYTES, timeout_s: float = FETCH_TIMEOUT_S
) -> str:
    """Return the text at an http(s) URL (webcal:// is read as https://).

    Raises InvalidInput when it cannot be fetched, answers other than 2xx, takes longer
    than `timeout_s` in all (or for any one step), or is larger than `max_bytes`.
    """
    deadline = time.monotonic() + timeout_s
    if url.lower().startswith("webcal://"):
        url = "https://" + url[len("webcal://") :]
    chunks: list[bytes] = []
    size = 0
    try:
        with (
            httpx.Client(timeout=timeout_s, follow_redirects=True, max_redirects=5) as client,
            client.stream("GET", url, headers={"accept": "text/calendar, */*"}) as response,
        ):
            if not response.is_success:
                raise InvalidInput(f"{url}: the server answered {response.status_code}")
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > max_bytes:
                    raise InvalidInput(f"{url}: the calendar is larger than {max_bytes} bytes")
                chunks.append(chunk)
                if time.monotonic() > deadline:
                    raise InvalidInput(f"{url}: not fetched within {timeout_s:g} s")
    except httpx.HTTPError as exc:
        raise InvalidInput(f"cannot fetch {url}: {type(exc).__name__}: {exc}") from None
    return _decode(b"".join(chunks), url)


def read_file(path: Path, *, max_bytes: int = MAX_FETCH_BYTES) -> str:
    """Return the text of a calendar file (InvalidInput if unreadable or too large)."""
    try:
        if path.stat().st_size > max_bytes:
            raise InvalidInput(f"{path}: the calendar is larger than {max_bytes} bytes")
        data = path.read_bytes()
    except OSError as exc:
        raise InvalidInput(f"cannot read {path}: {exc.strerror or exc}") from None
    return _decode(data, str(path))


def _decode(data: bytes, where: str) -> str:
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        raise InvalidInput(f"{where}: not UTF-8 text (byte {exc.start})") from None
