"""One Settings object: flags over ROTA_* environment variables over rota.toml over defaults."""

from __future__ import annotations

import os
import re
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from rota.errors import InvalidInput
from rota.jobs import MAX_TAG_CHARS, QUEUE_PATTERN, WORKER_NAME_PATTERN
from rota.moments import MAX_SPAN_S
from rota.safe_text import excerpt
from rota.values import text_problem

ENV_PREFIX = "ROTA_"
DEFAULT_CONFIG_FILE = "rota.toml"
_WORKER_NAME = re.compile(WORKER_NAME_PATTERN)
_QUEUE_NAME = re.compile(QUEUE_PATTERN)


class Settings(BaseModel):
    """Everything a server or a worker can be told; each field is also ROTA_<NAME>."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    # server
    db: str = Field("rota.db", description="SQLite file path, or a postgresql:// DSN")
    host: str = "127.0.0.1"
    port: int = Field(8077, ge=0, le=65535)
    dispatch_policy: Literal["least-loaded", "round-robin"] = "least-loaded"
    lease_s: float = Field(
        30.0, gt=0, le=MAX_SPAN_S, description="how long a claim lasts without a heartbeat"
    )
    heartbeat_s: float = Field(
        5.0, gt=0, le=MAX_SPAN_S, description="how often workers send a heartbeat"
    )
    disconnect_grace_s: float = Field(
        2.0, ge=0, le=MAX_SPAN_S, description="how long a closed worker connection keeps its leases"
    )
    reaper_interval_s: float = Field(0.5, gt=0, le=MAX_SPAN_S)
    retention_s: float = Field(
        7 * 86400, gt=0, le=MAX_SPAN_S, description="keep finished jobs this long"
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0)
    max_bulk: int = Field(10_000, gt=0)
    strict_tasks: bool = Field(
        True, description="refuse submissions of tasks no worker has announced"
    )

    # worker
    server: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8077"],
        description="server URLs; a worker fails over between them",
    )
    name: str | None = None
    concurrency: int = Field(4, ge=1, le=10_000)
    queues: list[str] = Field(default_factory=lambda: ["default"])
    tags: list[str] = Field(default_factory=list)
    imports: list[str] = Field(default_factory=list)
    allow_shell: bool = False
    drain_grace_s: float = Field(30.0, ge=0, le=MAX_SPAN_S)
    stop_grace_s: float = Field(
        10.0,
        gt=0,
        le=MAX_SPAN_S,
        description="how long a job's code asked to stop may take before it is reported",
    )
    exit_when_stuck: bool = Field(
        False,
        description="drain and exit when a job's code outlives the stop grace (for supervisors)",
    )

    @field_validator("server", "queues", "tags", "imports", mode="before")
    @classmethod
    def _split_commas(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    # A worker's name, queues and tags are judged here as its server will judge its hello,
    # so a worker the server would refuse says so at once instead of reconnecting for ever.
    @field_validator("name")
    @classmethod
    def _worker_name(cls, value: str | None) -> str | None:
        if value is not None and not _WORKER_NAME.match(value):
            raise ValueError(f"{excerpt(value)} must be 1-200 letters, digits or any of _ . : @ -")
        return value

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one queue")
        for queue in value:
            if not _QUEUE_NAME.match(queue):
                raise ValueError(
                    f"queue {excerpt(queue)} must be 1-100 letters, digits or any of _ . : -"
                )
        return value

    @field_validator("tags")
    @classmethod
    def _tags(cls, value: list[str]) -> list[str]:
        for tag in value:
            problem = text_problem(tag)
            if problem is not None or len(tag) > MAX_TAG_CHARS:
                raise ValueError(
                    f"tag {excerpt(tag)}: {problem or f'longer than {MAX_TAG_CHARS} characters'}"
                )
        return value


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
) -> Settings:
    """Return the settings, merging (highest first) overrides, environ, the config file, defaults.

    Overrides whose value is None are ignored, so unset CLI flags fall through.
    """
    environ = os.environ if environ is None else environ
    merged: dict[str, Any] = {}
    path = config_path or Path(environ.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))
    if path.is_file():
        try:
            merged.update(tomllib.loads(path.read_text()))
        except tomllib.TOMLDecodeError as exc:
            raise InvalidInput(f"{path}: {exc}") from None
    elif config_path is not None:
        raise InvalidInput(f"config file {path} does not exist")
    fields = Settings.model_fields
    for key, value in environ.items():
        if key.startswith(ENV_PREFIX) and key[len(ENV_PREFIX) :].lower() in fields:
            merged[key[len(ENV_PREFIX) :].lower()] = value
    merged.update({k: v for k, v in (overrides or {}).items() if v is not None})
    try:
        return Settings.model_validate(merged)
    except ValidationError as exc:
        problems = "; ".join(
            f"{'.'.join(str(p) for p in err['loc'])}: {err['msg'].removeprefix('Value error, ')}"
            for err in exc.errors()
        )
        raise InvalidInput(f"invalid settings: {problems}") from None
