"""Server-sent events: a live stream of job and worker changes for the dashboard.

Each notice is an SSE message whose `event` is its kind (job, progress, worker, refresh)
and whose `data` is JSON. Job notices come from the store's change feed, so they show
changes made through every server; worker and progress notices from this server's workers.
What the feed does not carry (log lines, progress reported to other servers) shows up as a
`refresh` hint, sent when the store's event watermark moves. A comment line (`: keep-alive`)
every `events_keepalive_s` (15 s by default) of silence keeps proxies from closing an idle
stream: nginx's and most load balancers' read timeouts are 60 s.
"""

from __future__ import annotations

import asyncio
import json
import logging
from collections.abc import AsyncIterator
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.responses import StreamingResponse
from starlette.types import Scope

from rota.server.api.event_models import stream_event_schema
from rota.server.events import Notice
from rota.server.guard import principal_of
from rota.server.state import Hub, hub_of
from rota.store.insights import Insights

router = APIRouter(tags=["events"])
HubDep = Annotated[Hub, Depends(hub_of)]
logger = logging.getLogger("rota.server.events")

WATERMARK_POLL_S = 1.0
RECONNECT_MS = 2000


@router.get(
    "/events",
    summary="Stream job and worker changes (server-sent events)",
    response_class=StreamingResponse,
    responses={
        200: {
            "description": "an endless stream of server-sent events, each described here "
            "by its kind (`event`) and its data (`data`, JSON text)",
            "content": {"text/event-stream": {"schema": stream_event_schema()}},
        }
    },
)
async def stream_events(hub: HubDep, request: Request) -> StreamingResponse:
    """Stream notices until the client goes away, the server stops or the token that
    opened the stream is revoked."""
    return StreamingResponse(
        _stream(hub, keepalive_s=hub.settings.server.events_keepalive_s, scope=request.scope),
        media_type="text/event-stream",
        headers={"cache-control": "no-cache", "x-accel-buffering": "no"},
    )


def format_message(notice: Notice) -> str:
    """Return one SSE message for the notice."""
    data = json.dumps(notice.data, separators=(",", ":"))
    return f"event: {notice.kind}\ndata: {data}\n\n"


async def _stream(hub: Hub, *, keepalive_s: float, scope: Scope) -> AsyncIterator[str]:
    loop = asyncio.get_running_loop()
    store = hub.store
    insights = store if isinstance(store, Insights) else None
    revoked: list[bool] = []  # its token was revoked: the stream ends within a poll
    with (
        hub.activity.events.subscribe() as subscription,
        hub.guard.watch(principal_of(scope), lambda: revoked.append(True)),
    ):
        watermark = await _watermark(insights)
        yield f"retry: {RECONNECT_MS}\n\n"
        yield format_message(Notice(kind="hello", data={"server": hub.server_name}))
        spoke_at = checked_at = loop.time()
        while not subscription.closed and not revoked:
            next_check = checked_at + WATERMARK_POLL_S
            notice = await subscription.get(
                max(0.0, min(next_check, spoke_at + keepalive_s) - loop.time())
            )
            if notice is not None:
                if subscription.closed:
                    break
                yield format_message(notice)
                spoke_at = loop.time()
            if loop.time() - checked_at >= WATERMARK_POLL_S:
                checked_at = loop.time()
                latest = await _watermark(insights)
                if latest != watermark:
                    watermark = latest
                    yield format_message(Notice(kind="refresh", data={"watermark": latest}))
                    spoke_at = loop.time()
            if loop.time() - spoke_at >= keepalive_s:
                yield ": keep-alive\n\n"
                spoke_at = loop.time()


async def _watermark(insights: Insights | None) -> int:
    if insights is None:
        return 0
    try:
        return await insights.event_watermark()
    except Exception as exc:  # the store is down: the stream lives on, without hints
        logger.warning("reading the event watermark failed: %r", exc)
        return -1
