"""Prometheus scrape endpoint: this server's counters and the cluster's gauges."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import Response

from rota.server.metrics import CONTENT_TYPE
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["metrics"])
HubDep = Annotated[Hub, Depends(hub_of)]


@router.get(
    "/metrics",
    summary="Prometheus metrics",
    response_class=Response,
    responses={
        200: {
            "description": "the metrics in the Prometheus text exposition format",
            "content": {"text/plain": {"schema": {"type": "string"}}},
        }
    },
)
async def metrics(hub: HubDep) -> Response:
    """Return the metrics in the Prometheus text format."""
    queues = await hub.store.queue_stats()
    workers = await hub.store.list_workers()
    body = hub.activity.metrics.render(queues, workers, len(hub.dispatcher.sessions()))
    return Response(body, media_type=CONTENT_TYPE)
