"""What GET /api/v1/events sends: one model per kind of notice, for /openapi.json.

Each server-sent event is `event: <kind>` and `data: <JSON text>`; the document describes
an event as {"event": kind, "data": text}, the text's JSON by the kind's model (OpenAPI's
contentMediaType and contentSchema), so schemathesis checks the events it reads.
rota.server.events builds the notices; tests/server/test_events.py holds them to these
models.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import Field, WithJsonSchema

from rota.jobs import JobState
from rota.server.api.models import Out

State = Annotated[str, WithJsonSchema({"type": "string", "enum": [str(s) for s in JobState]})]


class HelloNotice(Out):
    """The first event of every stream: which server it comes from."""

    server: str


class JobNotice(Out):
    """A job's new state (from the store's change feed: made through any server)."""

    id: str
    state: State
    queue: str
    task: str
    worker: str | None
    attempt: int
    progress: float | None
    stopping: bool
    updated_at: str


class ProgressNotice(Out):
    """A running job's progress report, to this server's workers."""

    id: str
    progress: float | None
    message: str | None = Field(default=None, description="left out when the report had none")


class WorkerNotice(Out):
    """A worker joined, left, drains, or reported (`seen`, with its running count)."""

    name: str
    state: Literal["online", "offline", "draining", "seen"]
    running: int | None = Field(default=None, description="sent with `seen` only")


class RefreshNotice(Out):
    """Something the feed does not carry changed: read again."""

    watermark: int | None = Field(
        default=None, description="the store's event watermark; left out after an overflow"
    )


NOTICES: dict[str, type[Out]] = {
    "hello": HelloNotice,
    "job": JobNotice,
    "progress": ProgressNotice,
    "worker": WorkerNotice,
    "refresh": RefreshNotice,
}
"""Every kind of event the stream sends, and the model of its data."""


def stream_event_schema() -> dict[str, Any]:
    """Return the JSON schema of one event of the stream: its kind and its data."""
    return {
        "oneOf": [
            {
                "type": "object",
                "properties": {
                    "event": {"const": kind},
                    "data": {
                        "type": "string",
                        "contentMediaType": "application/json",
                        "contentSchema": model.model_json_schema(mode="validation"),
                    },
                },
                "required": ["event", "data"],
                "additionalProperties": False,
            }
            for kind, model in NOTICES.items()
        ]
    }
