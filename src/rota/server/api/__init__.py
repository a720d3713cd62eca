"""The REST API under /api/v1: one router per resource."""

from __future__ import annotations

from fastapi import APIRouter

from rota.server.api import (
    calendars,
    devices,
    events,
    explore,
    health,
    jobs,
    queues,
    reminder_actions,
    reminders,
    schedule_preview,
    schedules,
    system,
    tokens,
    workers,
)
from rota.server.errors import COMMON_ERRORS, error_responses

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """Return a router holding every resource of the REST API (without the prefix).

    Every route is documented to answer the errors any route may answer (COMMON_ERRORS,
    with the standard error body), besides the ones it declares itself.
    """
    router = APIRouter(responses=error_responses(*COMMON_ERRORS))
    modules = (
        explore,
        jobs,
        workers,
        queues,
        health,
        system,
        events,
        schedule_preview,
        schedules,
        reminders,
        calendars,
        tokens,
    )
    for module in modules:
        router.include_router(module.router)
    router.include_router(devices.router)
    router.include_router(reminder_actions.router)
    return router


__all__ = ["API_PREFIX", "api_router"]
