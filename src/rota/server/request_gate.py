"""Refuse, before any route runs, what a web page could make a browser send to this server.

A browser lets any page send a "simple" request to any address it can reach: a POST whose
body is text/plain, form data or untyped needs no CORS preflight, and the page's origin is
named only in the Origin header. After DNS rebinding the page's own host name even reaches
the server in the Host header. So every HTTP request and WebSocket handshake passes
`check_request` (RotaApp.__call__ calls it before the lean submit path and the stack):

- Host must name a host of `server.allowed_hosts` or be an IP address (a rebinding attack
  needs a name that it controls; an address cannot be rebound): else 400 HostNotAllowed.
- Origin, when given on a request that changes something (any method but GET, HEAD,
  OPTIONS) or on a WebSocket handshake, must be the request's own host and port, or a host
  of `server.allowed_hosts`: else 403 OriginNotAllowed. Programs that are not browsers send
  no Origin and pass.
- A body on such a request must be JSON (Content-Type application/json, any parameters;
  also text/calendar on a calendar import): else 415 UnsupportedMediaType.
"""

from __future__ import annotations

import functools
import ipaddress
import logging
import re
from collections.abc import Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

from starlette.types import Receive, Scope, Send

from rota.errors import HostNotAllowed, OriginNotAllowed, RotaError, UnsupportedMediaType
from rota.safe_text import excerpt
from rota.server.api import API_PREFIX
from rota.server.errors import rota_error_response

logger = logging.getLogger("rota.server")

LOOPBACK_NAMES = ("localhost", "127.0.0.1", "::1")
"""Always allowed: only a page served from this machine can name them."""

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
JSON_MEDIA_TYPE = "application/json"
ANY_HOST = "*"
_WILDCARD_ADDRESSES = frozenset({"", "0.0.0.0", "::"})
_DEFAULT_PORTS = {"http": 80, "https": 443, "ws": 80, "wss": 443}
_HOST_NAME = re.compile(r"^[a-z0-9_.-]+$")
_CALENDAR_IMPORT = re.compile(re.escape(API_PREFIX) + r"/calendars/[^/]+/import")
_CALENDAR_MEDIA_TYPES = frozenset({JSON_MEDIA_TYPE, "text/calendar"})


@dataclass(frozen=True, kw_only=True, slots=True)
class AllowedHosts:
    """The host names a server answers to: exact names, domains (".example.com": the domain
    and its subdomains), or any host at all."""

    names: frozenset[str]
    domains: tuple[str, ...] = ()
    any_host: bool = False

    @classmethod
    def of(cls, configured: Sequence[str], *, bound_host: str, machine_name: str) -> AllowedHosts:
        """Return the hosts of `server.allowed_hosts` (`configured`) and the loopback names.

        An empty list stands for the host the server binds (unless it binds every address)
        and this machine's name. "*" allows any host.
        """
        entries = list(configured) or [bound_host, machine_name]
        names = set(LOOPBACK_NAMES)
        domains: list[str] = []
        any_host = False
        for entry in entries:
            name = normal_host(entry)
            if name == ANY_HOST:
                any_host = True
            elif name.startswith("."):
                domains.append(name)
            elif name not in _WILDCARD_ADDRESSES:
                names.add(name)
        return cls(names=frozenset(names), domains=tuple(domains), any_host=any_host)

    def allows(self, host: str) -> bool:
        """Tell whether a host name (normalized by `normal_host`) is one of these."""
        if self.any_host or host in self.names:
            return True
        return any(host.endswith(domain) or host == domain[1:] for domain in self.domains)


def normal_host(host: str) -> str:
    """Return a host name as compared: lower case, without brackets or a final dot."""
    host = host.strip().lower()
    if host.startswith("[") and host.endswith("]"):
        host = host[1:-1]
    return host.removesuffix(".") if host not in {".", ""} else host


def check_request(scope: Scope, allowed: AllowedHosts) -> RotaError | None:
    """Return the error that refuses an HTTP request or WebSocket handshake, or None.

    Reads only the scope (method, path, headers): see the module's docstring for the rules.
    Other scopes (lifespan) pass. It runs before every request, submissions included, so it
    reads the headers in one pass and remembers its verdict on recent Host values.
    """
    kind = scope["type"]
    if kind != "http" and kind != "websocket":
        return None
    host = origin = content_type = None
    has_body = False
    for name, value in scope["headers"]:
        if name == b"host":
            host = host or value
        elif name == b"content-length":
            has_body = has_body or value.strip() != b"0"
        elif name == b"content-type":
            content_type = content_type or value
        elif name == b"origin":
            origin = origin or value
        elif name == b"transfer-encoding":
            has_body = True
    authority = None
    if host is not None:
        authority = _answered(host, allowed)
        if authority is None:
            return HostNotAllowed(
                f"this server does not answer to the host {excerpt(host.decode('latin-1'))}: "
                "add it to the setting server.allowed_hosts (ROTA_ALLOWED_HOSTS)"
            )
    if kind == "http" and scope["method"] in SAFE_METHODS:
        return None
    if origin is not None:
        text = origin.decode("latin-1")
        if not _origin_allowed(text, authority, allowed):
            return OriginNotAllowed(
                f"a web page of {excerpt(text)} may not change anything here: add its host "
                "to the setting server.allowed_hosts (ROTA_ALLOWED_HOSTS) to trust it"
            )
    if kind == "http" and has_body:
        return _media_type_problem(scope["path"], (content_type or b"").decode("latin-1"))
    return None


@functools.lru_cache(maxsize=256)
def _answered(host: bytes, allowed: AllowedHosts) -> tuple[str, int | None] | None:
    """Return the Host header's (host, port) if the server answers to it, else None."""
    authority = split_authority(host.decode("latin-1"))
    if authority is None or not (allowed.allows(authority[0]) or _is_address(authority[0])):
        return None
    return authority


def _media_type_problem(path: str, content_type: str) -> UnsupportedMediaType | None:
    media_type = content_type.split(";", 1)[0].strip().lower()
    if media_type == JSON_MEDIA_TYPE:
        return None
    if media_type in _CALENDAR_MEDIA_TYPES and _CALENDAR_IMPORT.fullmatch(path):
        return None
    given = f"Content-Type {excerpt(media_type)}" if media_type else "no Content-Type"
    return UnsupportedMediaType(
        f"the request body must be JSON, sent with Content-Type: {JSON_MEDIA_TYPE} "
        f"(this one has {given})"
    )


def split_authority(value: str) -> tuple[str, int | None] | None:
    """Return (normalized host, port or None) of a Host header, or None if it is malformed."""
    value = value.strip()
    if value.startswith("["):
        end = value.find("]")
        if end == -1:
            return None
        host, rest = value[1:end], value[end + 1 :]
        if rest and not rest.startswith(":"):
            return None
        port_text = rest[1:] if rest else None
        if not _is_address(host):
            return None
    else:
        host, colon, port_text_found = value.partition(":")
        port_text = port_text_found if colon else None
        if not _HOST_NAME.fullmatch(host.lower()):
            return None
    if port_text is not None and not (port_text.isascii() and port_text.isdigit()):
        return None
    port = int(port_text) if port_text else None
    if port is not None and port > 65535:
        return None
    return normal_host(host), port


def _origin_allowed(
    origin: str, authority: tuple[str, int | None] | None, allowed: AllowedHosts
) -> bool:
    try:
        parts = urlsplit(origin.strip())
        origin_host, origin_port = parts.hostname, parts.port
    except ValueError:
        return False
    default_port = _DEFAULT_PORTS.get(parts.scheme)
    if not origin_host or default_port is None:
        return False  # "null" (a sandboxed page or a file) or not a web origin
    origin_host = normal_host(origin_host)
    if authority is not None:
        host, port = authority
        if host == origin_host and (port or default_port) == (origin_port or default_port):
            return True  # the page came from this very server (the dashboard)
    return allowed.allows(origin_host)


def _is_address(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


async def refuse(error: RotaError, scope: Scope, receive: Receive, send: Send) -> None:
    """Answer a request or WebSocket handshake with the error's status and error body."""
    path = scope["path"]
    logger.info(
        "refused %s %s: %s", scope.get("method", "WebSocket"), excerpt(path, 200), error.message
    )
    if scope["type"] == "http":
        await rota_error_response(scope["method"], path, error)(scope, receive, send)
        return
    await receive()  # websocket.connect
    if "websocket.http.response" not in scope.get("extensions", {}):
        await send({"type": "websocket.close", "code": 1008})
        return
    response = rota_error_response("WebSocket", path, error)
    await send(
        {
            "type": "websocket.http.response.start",
            "status": response.status_code,
            "headers": response.raw_headers,
        }
    )
    await send({"type": "websocket.http.response.body", "body": bytes(response.body)})
