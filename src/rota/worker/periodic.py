"""Register the schedules a worker's imported apps declare (`@app.periodic`) on start-up.

Runs beside the worker: it tries each server in turn, with backoff, until every declared
schedule is registered (created or updated by name, idempotently), then ends.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Callable, Coroutine, Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, Final

from rota.errors import RotaError, ServerUnavailable, UnknownTask
from rota.types import Payload

if TYPE_CHECKING:  # loaded only when there are schedules: a worker without any needs no client
    from rota.client import AsyncClient

FIRST_RETRY_S: Final = 0.5
MAX_RETRY_S: Final = 5.0


async def register_periodic(
    declarations: Mapping[str, Payload],
    servers: Sequence[str],
    report: Callable[[str], None],
    *,
    ca: Path | None = None,
    token: str | None = None,
) -> None:
    """Create or update every declared schedule on the first server that answers (an
    https:// one verified with the CA file `ca`, else the system's trust store), sending
    `token` (else $ROTA_TOKEN): one whose role may manage schedules (client or admin).

    Retries, with backoff, while no server answers or the server does not know the task
    yet (this worker announces it once connected). A schedule the server refuses for any
    other reason (a bad expression, say) is reported and left out.
    """
    from rota.client import AsyncClient

    waiting = dict(declarations)
    delay_s = FIRST_RETRY_S
    while waiting:
        for url in servers:
            async with AsyncClient(url, ca=ca, token=token) as client:
                try:
                    await _register(client, waiting, report)
                    break
                except ServerUnavailable:
                    continue
                except UnknownTask:
                    break
        if waiting:
            await asyncio.sleep(delay_s)
            delay_s = min(MAX_RETRY_S, delay_s * 2)


async def _register(
    client: AsyncClient, waiting: dict[str, Payload], report: Callable[[str], None]
) -> None:
    """Register what is waiting; leave in `waiting` only what the server did not know yet."""
    for name, body in list(waiting.items()):
        options = dict(body)
        task, args = options.pop("task"), options.pop("args")
        try:
            await client.put_schedule(name, task, *args, **options)
        except (ServerUnavailable, UnknownTask):
            raise
        except RotaError as exc:
            report(f"schedule {name!r} was not registered: {exc.message}")
        del waiting[name]


async def with_periodic(
    main: Coroutine[Any, Any, int],
    declarations: Mapping[str, Payload],
    servers: Sequence[str],
    report: Callable[[str], None],
    *,
    ca: Path | None = None,
    token: str | None = None,
) -> int:
    """Run the worker's main coroutine while registering the declared schedules beside it."""
    registration = (
        asyncio.create_task(
            register_periodic(declarations, servers, report, ca=ca, token=token),
            name="rota-periodic",
        )
        if declarations
        else None
    )
    try:
        return await main
    finally:
        if registration is not None:
            registration.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await registration
