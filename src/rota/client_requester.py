"""The one request method that the client's groups of methods (schedules, calendars,
reminders, devices) are written against; `rota.client.AsyncClient` provides it."""

from __future__ import annotations

from collections.abc import Mapping
from typing import TYPE_CHECKING, Any

from rota.types import JSON


class Requester:
    """Base of the client's method groups: they call `_request`, which AsyncClient defines
    (send, retry while the request may be repeated, turn error answers into RotaError)."""

    if TYPE_CHECKING:

        async def _request(
            self,
            method: str,
            path: str,
            *,
            json: JSON = None,
            params: Mapping[str, Any] | None = None,
            timeout_s: float | None = None,
            repeatable: bool | None = None,
            headers: Mapping[str, str] | None = None,
        ) -> Any: ...
