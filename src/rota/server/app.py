"""create_app: the FastAPI application of one Rota server. Nothing runs at import time."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI
from starlette.types import Receive, Scope, Send

from rota.clock import SYSTEM_CLOCK, Clock
from rota.server import dashboard, gateway
from rota.server.api import API_PREFIX, api_router, health, metrics
from rota.server.errors import install_error_handlers
from rota.server.lean import is_lean, lean_submit
from rota.server.limits import BodyLimitMiddleware
from rota.server.openapi import install_openapi
from rota.server.request_gate import AllowedHosts, check_request, refuse
from rota.server.state import Hub
from rota.server.url_text import UrlTextMiddleware
from rota.settings import Settings
from rota.store.base import Store

VERSION = "0.1.0"


class RotaApp(FastAPI):
    """The FastAPI app: every request is judged by the guard first (rota.server.guard),
    then the hottest route is answered before the middleware stack.

    Every request and WebSocket handshake first passes rota.server.request_gate (Host,
    Origin, JSON bodies), whichever path then answers it.

    POST /api/v1/jobs (submissions) takes the lean path of rota.server.lean, which keeps
    every promise of the stack for that route at a third less CPU per request; the route
    stays declared in the API (its OpenAPI entry) and calls the same function.
    """

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        # A wrong Host or Origin, a body that is not JSON: refused before tokens are read.
        refusal = check_request(scope, self.state.allowed_hosts)
        if refusal is not None:
            await refuse(refusal, scope, receive, send)
            return
        if scope["type"] != "lifespan":
            principal = await self.state.hub.guard.admit(scope, receive, send)
            if principal is None:
                return
        if is_lean(scope):
            await lean_submit(self.state.hub, scope, receive, send)
            return
        await super().__call__(scope, receive, send)


def create_app(settings: Settings, store: Store, *, clock: Clock = SYSTEM_CLOCK) -> FastAPI:
    """Return the server's app; its lifespan runs the dispatcher, reaper and retention loops.

    The store must be open already; the caller closes it after the app has stopped.
    """
    hub = Hub(settings=settings, store=store, clock=clock)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        async with hub.running():
            yield

    app = RotaApp(
        title="Rota",
        version=VERSION,
        summary="A distributed task scheduler: submit, inspect and control jobs.",
        lifespan=lifespan,
        docs_url="/docs",
    )
    app.state.hub = hub
    app.state.allowed_hosts = AllowedHosts.of(
        settings.server.allowed_hosts,
        bound_host=settings.server.host,
        machine_name=socket.gethostname(),
    )
    app.add_middleware(BodyLimitMiddleware, max_body_bytes=settings.server.max_body_bytes)
    app.add_middleware(UrlTextMiddleware)
    install_error_handlers(app)  # last: its last resort wraps every middleware
    app.include_router(api_router(), prefix=API_PREFIX)
    # Probes also answer at the root, where orchestrators look for them by default.
    app.include_router(health.router)
    app.include_router(gateway.router)
    app.include_router(metrics.router)
    # Last: the dashboard answers every other path (its deep links) with the app.
    app.include_router(dashboard.router(), include_in_schema=False)

    install_openapi(app)
    return app
