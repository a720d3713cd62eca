"""The client's device and reminder-action methods (mixed into AsyncClient; Client wraps
them as for jobs)."""

from __future__ import annotations

from datetime import timedelta

from rota.client_requester import Requester
from rota.client_urls import segment
from rota.errors import InvalidInput
from rota.types import JobId, Payload


class DeviceMethods(Requester):
    """List devices; snooze and dismiss reminders."""

    async def devices(self) -> list[Payload]:
        """Return every device (online first): last seen, reminders held and waiting, the
        next one, and its clock offset."""
        body: Payload = await self._request("GET", "/devices")
        devices: list[Payload] = body["devices"]
        return devices

    async def device(self, name: str) -> Payload:
        """Return one device (WorkerNotFound when no device has that name)."""
        body: Payload = await self._request("GET", f"/devices/{segment(name, 'device name')}")
        return body

    async def snooze(self, job_id: JobId, minutes: float | timedelta) -> Payload:
        """Snooze a reminder: return {"snoozed", "reminder", "created"}, where `reminder`
        is the new reminder due `minutes` from now (a timedelta counts as its minutes)."""
        if isinstance(minutes, timedelta):
            minutes = minutes.total_seconds() / 60
        if isinstance(minutes, bool) or not isinstance(minutes, int | float):
            raise InvalidInput("minutes: must be a number or a timedelta")
        body: Payload = await self._request(
            "POST",
            f"/reminders/{segment(job_id, 'job id')}/snooze",
            json={"minutes": minutes},
        )
        return body

    async def dismiss(self, job_id: JobId) -> Payload:
        """Dismiss (cancel) a reminder that has not rung; return the job."""
        body: Payload = await self._request(
            "POST", f"/reminders/{segment(job_id, 'job id')}/dismiss"
        )
        return body
