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

API_PREFIX = "/api/v1"


def api_router() -> APIRouter:
    """Return a router holding every resource of the REST API (without the prefix).

    The errors every route may answer are documented by rota.server.openapi, for every
    route of the app at once; each route declares the ones only it gives.
    """
    router = APIRouter()
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
