"""The notices the event stream sends fit the models /openapi.json describes them by
(rota.server.api.event_models): the contract test reads only each stream's first event, so
the others are held to their models here, built by the code that builds them for real."""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pydantic import ValidationError

from rota.jobs import JobState
from rota.server.activity import Activity
from rota.server.api.event_models import NOTICES
from rota.server.api.events import format_message
from rota.server.events import REFRESH, Notice, job_notice, worker_notice
from rota.store.feed import JobChange

SERVER = Path(__file__).resolve().parents[2] / "src" / "rota" / "server"


def fits(notice: Notice) -> None:
    """Check the notice as the stream writes it: its kind and its data's JSON text."""
    message = format_message(notice)
    kind = re.search(r"^event: (.+)$", message, re.MULTILINE)
    data = re.search(r"^data: (.+)$", message, re.MULTILINE)
    assert kind is not None and data is not None, message
    NOTICES[kind.group(1)].model_validate(json.loads(data.group(1)))


def test_job_notices_fit_their_model() -> None:
    change = JobChange(
        job_id="j1",
        state=JobState.RUNNING,
        queue="default",
        task="rota.echo",
        worker="w1",
        attempt=1,
        leased=True,
        stopping=False,
        progress=0.5,
        updated_at=datetime(2030, 1, 1, tzinfo=UTC),
    )
    fits(job_notice(change))


@pytest.mark.parametrize(
    "notice",
    [
        worker_notice("w1", "online"),
        worker_notice("w1", "seen", running=3),
        worker_notice("w1", "draining"),
        worker_notice("w1", "offline"),
        REFRESH,
        Notice(kind="refresh", data={"watermark": 12}),
        Notice(kind="hello", data={"server": "host:1"}),
    ],
)
def test_worker_refresh_and_hello_notices_fit_their_models(notice: Notice) -> None:
    fits(notice)


async def test_progress_notices_fit_their_model() -> None:
    activity = Activity()
    with activity.events.subscribe() as subscription:
        activity.progress("j1", 0.25, "a quarter")
        activity.progress("j1", None, None)
        notices = [await subscription.get(1) for _ in range(2)]
    for notice in notices:
        assert notice is not None and notice.kind == "progress"
        fits(notice)


def test_a_notice_that_does_not_fit_is_refused() -> None:
    with pytest.raises(ValidationError):
        fits(worker_notice("w1", "seen", running=1, cpu=3))
    with pytest.raises(ValidationError):
        fits(worker_notice("w1", "asleep"))


def test_every_kind_the_server_sends_has_a_model() -> None:
    """A new kind of notice written anywhere in the server is documented, or this fails.
    `closing` only ends a subscription: the stream never writes it."""
    sources = "".join(path.read_text(encoding="utf-8") for path in SERVER.rglob("*.py"))
    kinds = set(re.findall(r'Notice\(\s*kind="([a-z_]+)"', sources))
    assert kinds - {"closing"} == set(NOTICES)
