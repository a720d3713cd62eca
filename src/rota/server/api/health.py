"""Liveness and readiness probes."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from rota.server.api.models import HealthOut, NotReadyOut, ReadyOut
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["health"])
HubDep = Annotated[Hub, Depends(hub_of)]
logger = logging.getLogger("rota.server")

READY_TIMEOUT_S = 2.0


@router.get(
    "/healthz", summary="Tell whether the server process is alive", response_model=HealthOut
)
async def healthz() -> HealthOut:
    """Return ok while the process serves requests."""
    return HealthOut(status="ok")


@router.get(
    "/readyz",
    summary="Tell whether the server can reach its store",
    response_model=ReadyOut,
    responses={503: {"model": NotReadyOut, "description": "the store does not answer"}},
)
async def readyz(hub: HubDep) -> JSONResponse:
    """Return 200 when the store answers a query within a moment, else 503."""
    try:
        # A real read (now() may not touch the database at all).
        async with asyncio.timeout(READY_TIMEOUT_S):
            await hub.store.next_run_at()
    except Exception as exc:  # any failure to answer means not ready
        logger.warning("readiness check failed: %r", exc)
        return JSONResponse(
            {"status": "unavailable", "message": "the store does not answer"}, status_code=503
        )
    return JSONResponse({"status": "ready"})
