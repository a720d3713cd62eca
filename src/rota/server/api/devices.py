"""The devices resource: workers with the tag `device`, with the reminders they hold."""

from __future__ import annotations

from typing import Annotated

from fastapi import APIRouter, Depends, Path

from rota.server.api.device_models import DeviceOut, DevicesOut
from rota.server.api.models import errors
from rota.server.devices import device_statuses
from rota.server.state import Hub, hub_of

router = APIRouter(tags=["devices"])
HubDep = Annotated[Hub, Depends(hub_of)]


@router.get(
    "/devices",
    summary="List devices",
    response_model=DevicesOut,
)
async def list_devices(hub: HubDep) -> DevicesOut:
    """Return every device (a worker with the tag `device`), online first: when it was last
    seen, how many reminders it holds and waits for, the next one, and its clock offset."""
    return DevicesOut(devices=[DeviceOut.of(status) for status in await device_statuses(hub.store)])


@router.get(
    "/devices/{name}",
    summary="Show one device",
    response_model=DeviceOut,
    responses=errors(404),
)
async def get_device(
    name: Annotated[str, Path(max_length=200, description="the device's name")], hub: HubDep
) -> DeviceOut:
    """Return the device of that name; 404 when no device of that name is registered (a
    worker without the tag `device` is not one)."""
    (status,) = await device_statuses(hub.store, name)
    return DeviceOut.of(status)
