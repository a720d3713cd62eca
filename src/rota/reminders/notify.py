"""Send a reminder's text to its notification URLs (phones, chat, mail) with Apprise.

The worker that runs a notify job (task `rota.remind` without a device) calls `send`; one
URL that cannot be reached fails the attempt, so the job is retried with backoff, and every
URL is sent again on the next attempt (at least once, like every job).
"""

from __future__ import annotations

import warnings
from collections.abc import Sequence
from typing import Any, Final
from urllib.parse import urlsplit

from rota.errors import RotaError

TITLE: Final = "Reminder"
SEND_TIMEOUT_S: Final = 30.0
"""How long one URL may take to answer, connecting included."""


class NotifyFailed(RotaError, RuntimeError):
    """A reminder could not be sent to one of its notification URLs."""


def scheme_of(url: str) -> str:
    """Return the URL's scheme in lower case, as `via` lists it ("notify:<scheme>")."""
    return url.split("://", 1)[0].lower()


def shown(url: str) -> str:
    """Return the URL as messages may show it: scheme and host only, as credentials and
    tokens often sit in the rest."""
    host = urlsplit(url).hostname or "?"
    return f"{scheme_of(url)}://{host}/…"


def _apprise() -> Any:
    """Import Apprise and load its plugins (here: slow, and only notify jobs need it),
    quiet about the standard modules they use that Python deprecates (imghdr)."""
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", DeprecationWarning)
        import apprise
        from apprise.manager_plugins import NotificationManager

        NotificationManager().load_modules()  # type: ignore[no-untyped-call]  # once a process
    return apprise


def send(text: str, urls: Sequence[str], *, title: str = TITLE) -> tuple[str, ...]:
    """Send `text` to every Apprise URL; return "notify:<scheme>" for each, in order.

    Blocks (Apprise's plugins make plain HTTP or SMTP calls): run it off the event loop.
    Raises NotifyFailed naming (scheme and host only) every URL that Apprise does not
    know or that refused or did not answer; the others were sent.
    """
    apprise = _apprise()
    failed: list[str] = []
    for url in urls:
        plugin = apprise.Apprise.instantiate(url)
        if plugin is None:
            failed.append(f"{shown(url)} (not a notification URL Apprise knows)")
            continue
        plugin.socket_connect_timeout = SEND_TIMEOUT_S
        plugin.socket_read_timeout = SEND_TIMEOUT_S
        if not plugin.notify(body=text, title=title):
            failed.append(f"{shown(url)} (refused or did not answer)")
    if failed:
        raise NotifyFailed(f"could not notify {', '.join(failed)}")
    return tuple(f"notify:{scheme_of(url)}" for url in urls)
