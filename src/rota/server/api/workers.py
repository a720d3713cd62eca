"""The workers resource: who is connected, and asking one to drain."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Depends, Path, status

from rota.errors import WorkerNotFound
from rota.protocol import Drain
from rota.safe_text import excerpt
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["workers"])
HubDep = Annotated[Hub, Depends(hub_of)]


@router.get("/workers", summary="List workers")
async def list_workers(hub: HubDep) -> dict[str, Any]:
    """Return every registered worker, online first."""
    workers = await hub.store.list_workers()
    return {"workers": [worker.to_dict() for worker in workers]}


@router.post(
    "/workers/{name}/drain",
    status_code=status.HTTP_202_ACCEPTED,
    summary="Ask a worker to drain",
)
async def drain_worker(
    name: Annotated[str, Path(max_length=200, description="the worker's name")], hub: HubDep
) -> dict[str, Any]:
    """Send the worker no more jobs and ask it to finish what it runs, then stop."""
    session = hub.dispatcher.get(name)
    if session is None:
        raise WorkerNotFound(f"no worker named {excerpt(name)} is connected to this server")
    session.draining = True
    sent = await session.send(Drain())
    return {"worker": name, "state": "draining", "told": sent}
