"""Which role reaches which request: the one table every route, the event stream and the
worker socket are judged by (rota.auth.guard applies it before any route runs).

Rules, first match wins:
- the worker socket (`/api/v1/workers/connect`): `worker`;
- tokens (`/api/v1/tokens…`) and draining a worker: `admin`;
- signing in and out of the dashboard (`/api/v1/session`), the health probes, the OpenAPI
  document and its pages, and the dashboard's own files and pages: open to all (they show
  no data; the dashboard reads everything through the API);
- any other read (GET, HEAD) under /api/ and /metrics: `read`;
- any other request under /api/ (POST, PUT, PATCH, DELETE): `write`;
- anything else: open (the dashboard answers its deep links and 404s).
A role is granted the accesses of GRANTS: admin all, client read and write, read only read,
worker only worker.
"""

from __future__ import annotations

from enum import StrEnum
from typing import Final

from rota.auth.tokens import Role
from rota.protocol import WEBSOCKET_PATH

API: Final = "/api/v1"


class Access(StrEnum):
    """What a request needs."""

    OPEN = "open"
    READ = "read"
    WRITE = "write"
    WORKER = "worker"
    ADMIN = "admin"


GRANTS: Final[dict[Role, frozenset[Access]]] = {
    Role.ADMIN: frozenset({Access.READ, Access.WRITE, Access.WORKER, Access.ADMIN}),
    Role.CLIENT: frozenset({Access.READ, Access.WRITE}),
    Role.READ: frozenset({Access.READ}),
    Role.WORKER: frozenset({Access.WORKER}),
}

_OPEN_API: Final = frozenset({f"{API}/session", f"{API}/healthz", f"{API}/readyz"})
_READS: Final = frozenset({"GET", "HEAD"})


def access_for(kind: str, method: str, path: str) -> Access:
    """Return what a request needs; `kind` is the ASGI scope type ("http", "websocket").

    `path` is judged as the router matches it: a route's pattern ends in `$`, which also
    matches before a final newline, so "/api/v1/tokens\\n" (sent as `%0A`) reaches the
    tokens route and is judged as it.
    """
    path = path.rstrip("\n")
    if path == WEBSOCKET_PATH:
        return Access.WORKER
    if path.startswith(API + "/"):
        if path in _OPEN_API:
            return Access.OPEN
        if path == f"{API}/tokens" or path.startswith(f"{API}/tokens/"):
            return Access.ADMIN
        if kind == "websocket":
            return Access.WORKER
        if method in _READS:
            return Access.READ
        if method == "POST" and path.startswith(f"{API}/workers/") and path.endswith("/drain"):
            return Access.ADMIN
        return Access.WRITE
    if path == "/metrics" or path.startswith("/metrics/"):
        return Access.READ
    if kind == "websocket":
        return Access.WORKER
    return Access.OPEN


def allows(role: Role, access: Access) -> bool:
    """Tell whether a token of this role may make a request that needs `access`."""
    return access is Access.OPEN or access in GRANTS[role]


def roles_allowed(access: Access) -> list[Role]:
    """Return the roles that may (for refusal messages), most restricted first."""
    order = (Role.READ, Role.CLIENT, Role.WORKER, Role.ADMIN)
    return [role for role in order if allows(role, access)]
