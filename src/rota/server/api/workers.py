"""The workers resource: who is connected, and asking one to drain."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path, status

from rota.server.api.models import DrainOut, WorkerOut, WorkersOut, errors
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["workers"])
HubDep = Annotated[Hub, Depends(hub_of)]


@router.get("/workers", summary="List workers", response_model=WorkersOut)
async def list_workers(hub: HubDep) -> WorkersOut:
    """Return every registered worker, online first."""
    workers = await hub.store.list_workers()
    return WorkersOut(workers=[WorkerOut(**worker.to_dict()) for worker in workers])


@router.post(
    "/workers/{name}/drain",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask a worker to drain",
    response_model=DrainOut,
    responses=errors(404),
)
async def drain_worker(
    name: Annotated[str, Path(max_length=200, description="the worker's name")], hub: HubDep
) -> DrainOut:
    """Send the worker no more jobs and ask it to finish what it runs, then stop.

    Any server takes the request for a worker connected to any other; 404 when the worker
    is connected nowhere.
    """
    drained = await hub.jobs.drain(name)
    return DrainOut(worker=name, state="draining", told=drained.told)
