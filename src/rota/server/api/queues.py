"""The queues and tasks resources: depth per queue, and the task names workers offer."""

from __future__ import annotations

from dataclasses import asdict
from typing import Annotated

from fastapi import APIRouter, Depends

from rota.server.api.models import QueueOut, QueuesOut, TasksOut
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["queues"])
HubDep = Annotated[Hub, Depends(hub_of)]


@router.get("/queues", summary="List queues", response_model=QueuesOut)
async def list_queues(hub: HubDep) -> QueuesOut:
    """Return depth, due count, running count and oldest due age of every queue."""
    stats = await hub.store.queue_stats()
    return QueuesOut(queues=[QueueOut(**asdict(queue)) for queue in stats])


@router.get("/tasks", summary="List known task names", response_model=TasksOut)
async def list_tasks(hub: HubDep) -> TasksOut:
    """Return the task names a submission may use: announced by workers, or built in."""
    names = await hub.tasks.names(fresh=True)
    return TasksOut(tasks=sorted(names))
