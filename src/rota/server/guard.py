"""The one check every request passes before any route runs: HTTP routes, the lean submit
path, the event stream and the worker socket (RotaApp.__call__ calls `Guard.admit`).

A request's token comes from `Authorization: Bearer <token>`, or else from the dashboard's
session cookie (HttpOnly, SameSite=Strict, set by POST /api/v1/session; the token never
travels in a URL). What the request needs comes from rota.auth.access; the token's role
must grant it. Refusals are 401 (no token, an unknown or revoked one) or 403 (a role that
may not), with the usual error body; on the worker socket the same refusal closes the
socket with 4401 or 4403 and the message as its reason. Each refusal is logged with the
token's id, never its secret.

Tokens are read from the store into memory and re-read every RELOAD_S seconds (and at
once after a change through this server, or when an unknown token shows up, then no
sooner than MISS_RELOAD_S after the last read, so guesses cannot hammer the store): a
check costs one SHA-256 and a dict lookup, and a token revoked through any server stops
working everywhere within RELOAD_S, open connections too (the connections that live on,
the worker socket and the event stream, are watched and closed).

With `auth.anonymous` (only while the server binds to loopback, as `rota dev` does), a
request without a token may do everything; a request that presents a token is judged by it.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Final

from starlette.requests import cookie_parser
from starlette.types import Receive, Scope, Send

from rota.auth.access import Access, access_for, allows, roles_allowed
from rota.auth.tokens import Role, TokenRecord, digest_of, id_of
from rota.protocol.closing import CLOSE_FORBIDDEN, CLOSE_UNAUTHENTICATED, close_reason
from rota.protocol.codec import encode
from rota.protocol.messages import Error
from rota.safe_text import excerpt
from rota.server.errors import error_response
from rota.store.base import Store

logger = logging.getLogger("rota.server.auth")

RELOAD_S: Final = 1.0
MISS_RELOAD_S: Final = 0.25
MAX_LOGGED_PATH: Final = 200
COOKIE: Final = "rota_session"
"""The dashboard's session cookie: the token, HttpOnly, SameSite=Strict."""
_WHAT: Final = {
    Access.READ: "read",
    Access.WRITE: "change jobs, schedules or reminders",
    Access.WORKER: "connect as a worker",
    Access.ADMIN: "manage tokens or drain workers",
}


@dataclass(frozen=True, slots=True)
class Principal:
    """Who a request comes from: a token, or nobody (anonymous)."""

    token: TokenRecord | None
    role: Role | None
    """None for an anonymous request to an open route (it may do nothing else)."""

    @property
    def label(self) -> str:
        """The token's id and name for logs (never its secret), or "anonymous"."""
        return "anonymous" if self.token is None else f"token {self.token.id} ({self.token.name})"


ANONYMOUS: Final = Principal(None, None)
ANONYMOUS_ADMIN: Final = Principal(None, Role.ADMIN)


@dataclass(frozen=True, slots=True)
class Refusal:
    """Why a request is refused: 401 or 403, the error's type and a sentence."""

    status: int
    kind: str
    message: str

    async def answer(self, scope: Scope, receive: Receive, send: Send) -> None:
        """Answer the request with this refusal (HTTP), or close the socket with it: an
        `error` frame with the whole message first, as the gateway's refusals (a close
        frame's reason holds 123 bytes at most)."""
        if scope["type"] == "websocket":
            await receive()  # websocket.connect
            await send({"type": "websocket.accept"})
            await send({"type": "websocket.send", "bytes": encode(Error(message=self.message))})
            code = CLOSE_UNAUTHENTICATED if self.status == 401 else CLOSE_FORBIDDEN
            await send(
                {"type": "websocket.close", "code": code, "reason": close_reason(self.message)}
            )
            return
        response = error_response(self.status, self.kind, self.message)
        if self.status == 401:
            response.headers["www-authenticate"] = 'Bearer realm="rota"'
        await response(scope, receive, send)


class Guard:
    """Decides every request (see the module's docstring); one per server."""

    def __init__(self, store: Store, *, anonymous: bool) -> None:
        self._store = store
        self.anonymous = anonymous
        self._tokens: dict[str, TokenRecord] = {}
        """Digest -> live (unrevoked) token."""
        self._loaded_at = float("-inf")
        self._reloading: asyncio.Task[None] | None = None
        self._watchers: dict[str, set[Callable[[], None]]] = {}

    async def admit(self, scope: Scope, receive: Receive, send: Send) -> Principal | None:
        """Return who the request comes from, or answer its refusal and return None."""
        verdict = await self.judge(scope)
        if isinstance(verdict, Principal):
            scope.setdefault("state", {})["principal"] = verdict
            return verdict
        client = scope.get("client")
        logger.warning(
            "refused %s %s from %s: %s",
            scope.get("method", "WEBSOCKET"),
            excerpt(scope.get("path", ""), MAX_LOGGED_PATH),  # quoted: a "\n" stays on its line
            client[0] if client else "?",
            verdict.message,
        )
        await verdict.answer(scope, receive, send)
        return None

    async def judge(self, scope: Scope) -> Principal | Refusal:
        """Return who the request comes from if it may go on, else why not."""
        access = access_for(scope["type"], scope.get("method", "GET"), scope["path"])
        if access is Access.OPEN:
            return ANONYMOUS  # a stale cookie must not keep anyone from the sign-in page
        secret = _secret_of(scope)
        if secret is None:
            if self.anonymous:
                return ANONYMOUS_ADMIN
            return Refusal(
                401,
                "Unauthenticated",
                "no token: send `Authorization: Bearer <token>` (or set ROTA_TOKEN for the "
                "CLI, clients and workers); an admin makes one with `rota tokens create`",
            )
        token = await self.token_of(secret)
        if token is None:
            shown = id_of(secret)
            which = f"token {shown}" if shown else "the token given (not a Rota token)"
            return Refusal(401, "Unauthenticated", f"{which} is unknown or revoked")
        if not allows(token.role, access):
            roles = " or ".join(role.value for role in roles_allowed(access))
            return Refusal(
                403,
                "Forbidden",
                f"token {token.id} ({token.name}) has the role {token.role.value}, which may "
                f"not {_WHAT[access]}; that needs a token of the role {roles}",
            )
        return Principal(token, token.role)

    async def identify(self, scope: Scope) -> Principal | None:
        """Return who the request's token (or anonymous access) makes it, whatever the
        route needs; None if it has no live token and the server wants one."""
        secret = _secret_of(scope)
        if secret is None:
            return ANONYMOUS_ADMIN if self.anonymous else None
        token = await self.token_of(secret)
        return None if token is None else Principal(token, token.role)

    async def token_of(self, secret: str) -> TokenRecord | None:
        """Return the live token of this secret, or None (reloading once on a miss)."""
        digest = digest_of(secret)
        token = self._tokens.get(digest)
        if token is None:
            # Perhaps made through another server since the last read: read again, but no
            # more often than every MISS_RELOAD_S (unknown tokens wait for it, guesses too).
            await asyncio.sleep(max(0.0, self._loaded_at + MISS_RELOAD_S - time.monotonic()))
            await self.reload()
            token = self._tokens.get(digest)
        return token

    async def reload(self) -> None:
        """Read the tokens again, and close the open connections of any no longer live.

        Concurrent callers share one read."""
        if self._reloading is None or self._reloading.done():
            self._reloading = asyncio.ensure_future(self._reload())
        await asyncio.shield(self._reloading)

    async def _reload(self) -> None:
        tokens = await self._store.list_tokens()
        live = {token.digest: token for token in tokens if not token.revoked}
        self._tokens = live
        self._loaded_at = time.monotonic()
        ids = {token.id for token in live.values()}
        for token_id in [token_id for token_id in self._watchers if token_id not in ids]:
            for callback in self._watchers.pop(token_id):
                callback()

    async def run(self) -> None:
        """Re-read the tokens every RELOAD_S seconds until cancelled."""
        while True:
            try:
                await self.reload()
            except Exception:  # the store is down: keep what is known, try again
                logger.warning("could not read the tokens; trying again", exc_info=True)
            await asyncio.sleep(RELOAD_S)

    @contextlib.contextmanager
    def watch(self, principal: Principal | None, on_revoked: Callable[[], None]) -> Iterator[None]:
        """Call `on_revoked` once if the principal's token is revoked during the block
        (for connections that outlive their first check)."""
        if principal is None or principal.token is None:
            yield
            return
        token_id = principal.token.id
        watchers = self._watchers.setdefault(token_id, set())
        watchers.add(on_revoked)
        try:
            yield
        finally:
            remaining = self._watchers.get(token_id)
            if remaining is not None:
                remaining.discard(on_revoked)
                if not remaining:
                    del self._watchers[token_id]


def principal_of(scope: Scope) -> Principal | None:
    """Return who the guard admitted this request as (None outside a guarded app)."""
    state = scope.get("state")
    principal = state.get("principal") if state else None
    return principal if isinstance(principal, Principal) else None


def _secret_of(scope: Scope) -> str | None:
    cookie: str | None = None
    for name, value in scope["headers"]:
        if name == b"authorization":
            text: str = value.decode("latin-1")
            scheme, _, credentials = text.partition(" ")
            if scheme.lower() == "bearer" and credentials.strip():
                return credentials.strip()
            return text  # not a bearer token: judged (and refused) as one
        if name == b"cookie":
            cookie = value.decode("latin-1")
    if cookie is not None:
        secret: str | None = cookie_parser(cookie).get(COOKIE) or None
        return secret
    return None
