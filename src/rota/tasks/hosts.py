"""Which hosts the built-in rota.http task may call: a worker's `--allow-http` list.

A worker reaches networks its clients cannot, so rota.http is off until the worker names
the hosts it may call. An entry is a host name (`api.example.com`), a wildcard over a
domain's subdomains (`*.example.com`, not `example.com` itself), an IP address (`10.0.0.5`,
`::1` or `[::1]`), or `*` for every host. Names are compared as written: `localhost` and
loopback or private addresses are allowed only when listed, and a name is trusted to
resolve where its owner says (the check is on names, not on the addresses they resolve to).
"""

from __future__ import annotations

import contextvars
import ipaddress
import re
from collections.abc import Iterable
from dataclasses import dataclass

from rota.errors import InvalidInput
from rota.safe_text import excerpt

ANY_HOST = "*"
WILDCARD_PREFIX = "*."
_LABEL = re.compile(r"^[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?$")


@dataclass(frozen=True, slots=True)
class HostAllowlist:
    """The hosts a worker lets rota.http call; empty (the default) lets it call none."""

    patterns: tuple[str, ...] = ()
    """Each entry normalized: lower case, no trailing dot, IP addresses in their short form."""

    @classmethod
    def parse(cls, entries: Iterable[str]) -> HostAllowlist:
        """Return the allowlist of these entries; raise InvalidInput naming a bad one (a
        port, a path, a wildcard that is not a whole leftmost label, or one over an IP)."""
        return cls(tuple(_pattern(entry) for entry in entries))

    def __bool__(self) -> bool:
        return bool(self.patterns)

    def allows(self, host: str) -> bool:
        """Tell whether rota.http may call `host` (a URL's host: a name or an IP literal)."""
        name = _normal_host(host)
        if not name:
            return False
        for pattern in self.patterns:
            if pattern == ANY_HOST or pattern == name:
                return True
            if pattern.startswith(WILDCARD_PREFIX) and name.endswith(pattern[1:]):
                return True
        return False


def _normal_host(host: str) -> str:
    """Return a host as patterns are kept: lower case, no brackets, no trailing dot, an IP
    address in its short form."""
    name = host.strip().lower()
    if name.startswith("[") and name.endswith("]"):
        name = name[1:-1]
    try:
        return str(ipaddress.ip_address(name))
    except ValueError:
        return name.rstrip(".")


def _pattern(entry: str) -> str:
    text = entry.strip()
    if text == ANY_HOST:
        return ANY_HOST
    name = _normal_host(text)
    try:
        ipaddress.ip_address(name)
    except ValueError:
        pass
    else:
        return name
    wildcard = name.startswith(WILDCARD_PREFIX)
    labels = (name[len(WILDCARD_PREFIX) :] if wildcard else name).split(".")
    try:
        ascii_labels = [label.encode("idna").decode("ascii") for label in labels]
    except UnicodeError:
        ascii_labels = labels
    if not all(_LABEL.fullmatch(label) for label in ascii_labels):
        raise InvalidInput(
            f"--allow-http entry {excerpt(entry)} is not a host name, *.domain, an IP "
            "address or *: give host names only, without scheme, port or path"
        )
    if wildcard and ascii_labels[-1][0].isdigit():
        # Numbers ending a name are an address spelled another way (127.1, 0x7f.1).
        raise InvalidInput(
            f"--allow-http entry {excerpt(entry)}: a wildcard covers a domain's names, "
            "not addresses; list each address"
        )
    host = ".".join(ascii_labels)
    return WILDCARD_PREFIX + host if wildcard else host


NO_HOSTS = HostAllowlist()
_allowed: contextvars.ContextVar[HostAllowlist | None] = contextvars.ContextVar(
    "rota_allowed_hosts", default=None
)


def allowed_hosts() -> HostAllowlist:
    """Return the hosts the running task's worker lets rota.http call (none outside one)."""
    return _allowed.get() or NO_HOSTS


def set_allowed_hosts(hosts: HostAllowlist) -> contextvars.Token[HostAllowlist | None]:
    """Make `hosts` the allowlist for this context; the worker calls it before running a job."""
    return _allowed.set(hosts)
