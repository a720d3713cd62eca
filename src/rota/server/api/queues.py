"""The queues and tasks resources: depth per queue, and the task names workers offer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated, Any

from fastapi import APIRouter, Depends

from rota.server.state import Hub, hub_of

router = APIRouter(tags=["queues"])
HubDep = Annotated[Hub, Depends(hub_of)]


@router.get("/queues", summary="List queues")
async def list_queues(hub: HubDep) -> dict[str, Any]:
    """Return depth, due count, running count and oldest due age of every queue."""
    stats = await hub.store.queue_stats()
    return {"queues": [asdict(queue) for queue in stats]}


@router.get("/tasks", summary="List known task names")
async def list_tasks(hub: HubDep) -> dict[str, Any]:
    """Return the task names a submission may use: announced by workers, or built in."""
    names = await hub.tasks.names(fresh=True)
    return {"tasks": sorted(names)}
