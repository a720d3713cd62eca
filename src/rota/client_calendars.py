"""The client's calendar method (mixed into AsyncClient; Client wraps it as for jobs)."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from rota.client_requester import Requester
from rota.client_urls import segment
from rota.moments import wire_span
from rota.types import Payload


class CalendarMethods(Requester):
    """Import iCalendar files as reminders and schedules."""

    async def import_calendar(
        self,
        calendar: str,
        ics: str,
        *,
        target: str | None = None,
        before: float | timedelta = 0.0,
        tz: str = "UTC",
        dry_run: bool = False,
    ) -> Payload:
        """Import the .ics text as calendar `calendar`; return what changed.

        `target` is `device:<name>` or `device`; `before` (seconds or a timedelta) how long
        before each event its reminder sounds; `tz` the zone of floating and all-day times.
        Answers {"added": n, "updated": n, "removed": n, "unchanged": n, "past": n,
        "changes": [...]}. InvalidCalendar names the line of a malformed file.
        """
        params: dict[str, Any] = {
            "before": wire_span(before, "before"),
            "tz": tz,
            "dry_run": "true" if dry_run else "false",
        }
        if target is not None:
            params["target"] = target
        report: Payload = await self._request(
            "POST",
            f"/calendars/{segment(calendar, 'calendar')}/import",
            json={"ics": ics},
            params=params,
            timeout_s=60.0,
        )
        return report
