"""Settings in sections: flags over ROTA_* environment variables over rota.toml over defaults.

Each section is read by one part of Rota (`[server]` by servers, `[worker]` by workers, …).
Every key is unique across the sections, so each is also the environment variable
ROTA_<KEY> (ROTA_LEASE_S is server.lease_s); ROTA_<SECTION>__<KEY> names it with its section.
"""

from __future__ import annotations

import ipaddress
import os
import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from types import MappingProxyType
from typing import Any, Literal, Self

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator, model_validator

from rota.device.quiet import QuietHours
from rota.errors import InvalidInput
from rota.jobs import MAX_TAG_CHARS, QUEUE_PATTERN, WORKER_NAME_PATTERN
from rota.moments import MAX_SPAN_S
from rota.protocol.messages import MAX_CAPACITY, MAX_HORIZON_S, MAX_LEAD_S
from rota.reminders.model import DEFAULT_HORIZON_S
from rota.safe_text import excerpt
from rota.tasks.hosts import HostAllowlist
from rota.values import text_problem

ENV_PREFIX = "ROTA_"
SECTION_SEPARATOR = "__"
DEFAULT_CONFIG_FILE = "rota.toml"
_WORKER_NAME = re.compile(WORKER_NAME_PATTERN)
_QUEUE_NAME = re.compile(QUEUE_PATTERN)
_HOST_NAME = re.compile(r"^\.?[A-Za-z0-9_-]+(\.[A-Za-z0-9_-]+)*\.?$")


class Section(BaseModel):
    """One table of rota.toml; unknown keys are refused."""

    model_config = ConfigDict(extra="forbid", frozen=True)


class ServerSettings(Section):
    """Read by `rota server` (and the server `rota dev` embeds)."""

    host: str = Field("127.0.0.1", description="address the server binds")
    port: int = Field(8077, ge=0, le=65535, description="port the server listens on (0: any free)")
    dispatch_policy: Literal["least-loaded", "round-robin"] = Field(
        "least-loaded", description="how the dispatcher picks among workers with free slots"
    )
    lease_s: float = Field(
        30.0, gt=0, le=MAX_SPAN_S, description="how long a claim lasts without a heartbeat"
    )
    heartbeat_s: float = Field(
        5.0, gt=0, le=MAX_SPAN_S, description="how often workers send a heartbeat"
    )
    disconnect_grace_s: float = Field(
        1.0, ge=0, le=MAX_SPAN_S, description="how long a closed worker connection keeps its leases"
    )
    reaper_interval_s: float = Field(
        0.5, gt=0, le=MAX_SPAN_S, description="how often expired leases and old jobs are swept"
    )
    max_body_bytes: int = Field(1024 * 1024, gt=0, description="largest HTTP request body")
    max_bulk: int = Field(10_000, gt=0, description="most jobs one bulk submission may hold")
    events_keepalive_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="how often an idle event stream (/events) sends a keep-alive comment",
    )
    strict_tasks: bool = Field(
        True, description="refuse submissions of tasks no worker has announced"
    )
    allowed_hosts: list[str] = Field(
        default_factory=list,
        description="host names this server answers to (the Host header) and whose web "
        "pages may change things here (the Origin header), beside loopback names and, in "
        "Host, any IP address; .example.com: the domain and its subdomains; *: any host "
        "(empty: the bound host and this machine's name)",
    )
    header_timeout_s: float = Field(
        10.0, gt=0, le=3600, description="how long a request's headers may take to arrive"
    )
    body_timeout_s: float = Field(
        30.0, gt=0, le=3600, description="how long a request's body may take to arrive"
    )
    idle_timeout_s: float = Field(
        15.0,
        gt=0,
        le=3600,
        description="how long a connection may stay open waiting for a request",
    )
    max_connections_per_client: int = Field(
        256,
        ge=1,
        description="most connections open at once from one client address (a proxy in "
        "front counts as one client); more are refused with a 503",
    )

    @field_validator("allowed_hosts", mode="before")
    @classmethod
    def _split_hosts(cls, value: Any) -> Any:
        if isinstance(value, str):
            return [part.strip() for part in value.split(",") if part.strip()]
        return value

    @field_validator("allowed_hosts")
    @classmethod
    def _host_names(cls, value: list[str]) -> list[str]:
        for host in value:
            if not _allowed_host_entry(host):
                raise ValueError(
                    f"{excerpt(host)} is not a host name, an IP address, .domain or * "
                    "(give no port or scheme)"
                )
        return value


def _allowed_host_entry(host: str) -> bool:
    if host == "*" or _HOST_NAME.fullmatch(host):
        return True
    try:
        ipaddress.ip_address(host.removeprefix("[").removesuffix("]"))
    except ValueError:
        return False
    return True


class StoreSettings(Section):
    """Where jobs are kept, and for how long; read by servers and `rota migrate`."""

    db: str = Field("rota.db", description="SQLite file path, or a postgresql:// DSN")
    retention_s: float = Field(
        7 * 86400, gt=0, le=MAX_SPAN_S, description="keep finished jobs this long"
    )
    durability: Literal["full", "relaxed"] = Field(
        "full",
        description='"full": each change is flushed to disk before the server answers; '
        '"relaxed": answer before the flush (much faster single submits; a power loss or '
        "OS crash may lose the last moments' changes, a Rota crash loses nothing on SQLite)",
    )


class WorkerSettings(Section):
    """Read by `rota worker` (and the workers `rota dev` starts)."""

    server: list[str] = Field(
        default_factory=lambda: ["http://127.0.0.1:8077"],
        description="server URLs (comma list); a worker fails over between them, "
        "and client commands use the first",
    )
    name: str | None = Field(None, description="the worker's name (default: host name and pid)")
    concurrency: int = Field(4, ge=1, le=MAX_CAPACITY, description="jobs run at once")
    prefetch: int = Field(
        0,
        ge=0,
        le=MAX_CAPACITY,
        description="jobs taken beyond concurrency, each started as a slot frees: fewer "
        "round trips between short jobs, but a prefetched job waits behind the running "
        "ones even while another worker is idle (0: none)",
    )
    queues: list[str] = Field(
        default_factory=lambda: ["default"], description="queues to take jobs from (comma list)"
    )
    tags: list[str] = Field(
        default_factory=list, description="tags jobs can target, e.g. gpu (comma list)"
    )
    imports: list[str] = Field(
        default_factory=list, description="modules to import tasks from (comma list)"
    )
    allow_shell: bool = Field(False, description="allow the rota.shell and rota.crash tasks")
    allow_http: list[str] = Field(
        default_factory=list,
        description="hosts the rota.http task may call, each redirect too (comma list of "
        "names, *.domain patterns, IP addresses, or * for any; none: rota.http is off)",
    )
    drain_grace_s: float = Field(
        30.0, ge=0, le=MAX_SPAN_S, description="time to finish running jobs after SIGTERM"
    )
    stop_grace_s: float = Field(
        10.0,
        gt=0,
        le=MAX_SPAN_S,
        description="how long a job's code asked to stop may take before it is reported",
    )
    lead_s: float = Field(
        0.5,
        ge=0,
        le=MAX_LEAD_S,
        description="how long before its run_at a delayed job is handed over; the worker "
        "holds it and starts it at that moment by the store's clock, which each frame of "
        "jobs states (0: only due jobs)",
    )
    exit_when_stuck: bool = Field(
        False,
        description="drain and exit when a job's code outlives the stop grace (for supervisors)",
    )

    @field_validator("server", "queues", "tags", "imports", "allow_http", mode="before")
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
        if value is not None and not _WORKER_NAME.fullmatch(value):
            raise ValueError(f"{excerpt(value)} must be 1-200 letters, digits or any of _ . : @ -")
        return value

    @field_validator("queues")
    @classmethod
    def _queue_names(cls, value: list[str]) -> list[str]:
        if not value:
            raise ValueError("name at least one queue")
        for queue in value:
            if not _QUEUE_NAME.fullmatch(queue):
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

    @field_validator("allow_http")
    @classmethod
    def _hosts(cls, value: list[str]) -> list[str]:
        try:
            HostAllowlist.parse(value)
        except InvalidInput as exc:
            raise ValueError(exc.message) from None
        return value

    @model_validator(mode="after")
    def _capacity_fits(self) -> Self:
        # The server refuses a hello whose slots and prefetch pass the protocol's limit.
        if self.concurrency + self.prefetch > MAX_CAPACITY:
            raise ValueError(
                f"concurrency + prefetch is {self.concurrency + self.prefetch}; a worker may "
                f"hold at most {MAX_CAPACITY} jobs"
            )
        return self


class TlsSettings(Section):
    """HTTPS and WSS: the server's certificate and key (both, or neither for plain HTTP), and
    the CA that clients, the CLI and workers verify https:// and wss:// servers with."""

    certfile: Path | None = Field(None, description="PEM certificate chain the server presents")
    keyfile: Path | None = Field(None, description="PEM private key of that certificate")
    ca: Path | None = Field(
        None,
        description="PEM file of the CA(s) that clients and workers trust for https:// "
        "servers, instead of the system's trust store",
    )

    @model_validator(mode="after")
    def _both_or_neither(self) -> Self:
        if (self.certfile is None) != (self.keyfile is None):
            raise ValueError("give both certfile and keyfile, or neither")
        return self

    @property
    def enabled(self) -> bool:
        """True when the server serves HTTPS and WSS."""
        return self.certfile is not None


class AuthSettings(Section):
    """The token clients, the CLI and workers present, and whether a server asks for one."""

    token: str | None = Field(
        None, description="bearer token sent in the Authorization header (shown masked)"
    )
    anonymous: bool = Field(
        False,
        description="let requests without a token do everything (only while the server binds "
        "to a loopback address; `rota dev` does so there)",
    )


class DeviceSettings(Section):
    """Read by `rota device` (a worker that holds reminders and rings them); its name,
    server and extra tags are the worker section's."""

    horizon_s: float = Field(
        DEFAULT_HORIZON_S,
        ge=0,
        le=MAX_HORIZON_S,
        description="how long before they are due reminders are handed to the device",
    )
    audio_out: Path | None = Field(
        None, description="write each chime as a WAV file in this directory instead of playing it"
    )
    speak: bool = Field(False, description="speak each reminder's text with espeak-ng")
    quiet_hours: str | None = Field(
        None,
        description="local times (e.g. 22:00-07:00) in which reminders ring silently: "
        "notification only",
    )
    holdings: Path | None = Field(
        None,
        description="the device's file of held reminders "
        "(default: $XDG_STATE_HOME/rota/device-<name>.json)",
    )

    @field_validator("quiet_hours")
    @classmethod
    def _quiet_hours(cls, value: str | None) -> str | None:
        if value is not None:
            try:
                QuietHours.parse(value)
            except InvalidInput as exc:
                raise ValueError(str(exc)) from None
        return value


class Settings(BaseModel):
    """Everything a server, a worker or a client can be told, one section each."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    server: ServerSettings = Field(default_factory=lambda: ServerSettings.model_validate({}))
    worker: WorkerSettings = Field(default_factory=lambda: WorkerSettings.model_validate({}))
    store: StoreSettings = Field(default_factory=lambda: StoreSettings.model_validate({}))
    tls: TlsSettings = Field(default_factory=lambda: TlsSettings.model_validate({}))
    auth: AuthSettings = Field(default_factory=lambda: AuthSettings.model_validate({}))
    device: DeviceSettings = Field(default_factory=lambda: DeviceSettings.model_validate({}))

    @model_validator(mode="after")
    def _anonymous_on_loopback_only(self) -> Self:
        if self.auth.anonymous and not is_loopback(self.server.host):
            raise ValueError(
                f"auth.anonymous is only allowed while the server binds to a loopback address, "
                f"not {self.server.host}: anyone who can reach it could do everything. Use "
                f"tokens (`rota tokens create`), or bind to 127.0.0.1"
            )
        return self


def is_loopback(host: str) -> bool:
    """Tell whether a bind address reaches only this machine (127.0.0.0/8, ::1, localhost)."""
    if host.lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        return False


def _sections() -> Mapping[str, type[Section]]:
    sections: dict[str, type[Section]] = {}
    for name, field in Settings.model_fields.items():
        model = field.annotation
        assert isinstance(model, type) and issubclass(model, Section)
        sections[name] = model
    return MappingProxyType(sections)


SECTIONS: Mapping[str, type[Section]] = _sections()
"""Section name -> its model, in the order of Settings."""


def _keys() -> Mapping[str, str]:
    keys: dict[str, str] = {}
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            assert key not in keys, f"setting {key} is in two sections"
            keys[key] = section
    return MappingProxyType(keys)


KEYS: Mapping[str, str] = _keys()
"""Each key -> the one section it lives in (keys are unique across sections)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Origin:
    """Where a setting's value came from: a flag, an environment variable, a file or a default."""

    kind: Literal["flag", "env", "file", "default"]
    where: str = ""
    """The environment variable's name, the file's path, or the flag; empty for a default."""

    def __str__(self) -> str:
        if self.kind == "default":
            return "default"
        return self.where or ("the command line" if self.kind == "flag" else self.kind)


@dataclass(frozen=True, kw_only=True, slots=True)
class LoadedSettings:
    """Settings with the origin of each value, keyed "section.key"."""

    settings: Settings
    origins: Mapping[str, Origin]
    config_file: Path | None
    """The rota.toml that was read, or None when there was none."""


def env_name(key: str) -> str:
    """Return the environment variable of a key: "lease_s" -> "ROTA_LEASE_S"."""
    return ENV_PREFIX + key.upper()


def load_settings(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    flags: Mapping[str, str] | None = None,
) -> Settings:
    """Return the settings, merging (highest first) overrides, environ, the config file, defaults.

    See load_settings_with_origins for the arguments and the errors raised.
    """
    loaded = load_settings_with_origins(
        overrides, environ=environ, config_path=config_path, flags=flags
    )
    return loaded.settings


def load_settings_with_origins(
    overrides: Mapping[str, Any] | None = None,
    *,
    environ: Mapping[str, str] | None = None,
    config_path: Path | None = None,
    flags: Mapping[str, str] | None = None,
) -> LoadedSettings:
    """Return the settings and where each value came from.

    overrides: values from the command line, by key ("port") or "section.key"; None values are
    ignored, so unset flags fall through. flags: the flag that set a key, for the origins.
    environ: the environment (default os.environ); ROTA_<KEY> and ROTA_<SECTION>__<KEY>.
    config_path: the rota.toml to read (it must exist); default $ROTA_CONFIG, else ./rota.toml
    if present.
    Raises InvalidInput naming the key and where it came from for an unknown key, a key in the
    wrong section or a bad value, and naming the file for a file that is not valid TOML.
    """
    environ = os.environ if environ is None else environ
    values: dict[str, dict[str, Any]] = {section: {} for section in SECTIONS}
    origins: dict[str, Origin] = {}

    def put(section: str, key: str, value: Any, origin: Origin) -> None:
        values[section][key] = value
        origins[f"{section}.{key}"] = origin

    path = config_path or Path(environ.get(ENV_PREFIX + "CONFIG", DEFAULT_CONFIG_FILE))
    config_file: Path | None = None
    if path.is_file():
        config_file = path
        origin = Origin(kind="file", where=str(path))
        for section, key, value in _read_toml(path):
            put(section, key, value, origin)
    elif config_path is not None:
        raise InvalidInput(f"config file {path} does not exist")
    for section, key, name in _environment_keys(environ):
        put(section, key, environ[name], Origin(kind="env", where=name))
    for name, value in (overrides or {}).items():
        if value is not None:
            section, key = _locate(name, "unknown setting")
            where = (flags or {}).get(key, "")
            put(section, key, value, Origin(kind="flag", where=where))
    try:
        settings = Settings.model_validate(values)
    except ValidationError as exc:
        raise InvalidInput(f"invalid settings: {_describe(exc, origins)}") from None
    for section, model in SECTIONS.items():
        for key in model.model_fields:
            origins.setdefault(f"{section}.{key}", Origin(kind="default"))
    return LoadedSettings(
        settings=settings, origins=MappingProxyType(origins), config_file=config_file
    )


def settings_of(values: Mapping[str, Any]) -> Settings:
    """Return settings from defaults and `values` only, by key or "section.key" (no env, no file).

    Raises InvalidInput as load_settings does.
    """
    return load_settings(values, environ={}, config_path=None)


def _locate(name: str, problem: str) -> tuple[str, str]:
    """Return (section, key) of "key" or "section.key", or raise InvalidInput."""
    section, _, key = name.rpartition(".")
    if not section:
        if key in KEYS:
            return KEYS[key], key
        raise InvalidInput(f"{problem} {excerpt(name)}")
    model = SECTIONS.get(section)
    if model is None:
        raise InvalidInput(f"{problem} {excerpt(name)}: there is no section {excerpt(section)}")
    if key not in model.model_fields:
        raise InvalidInput(f"{problem} {excerpt(name)}{_belongs(key)}")
    return section, key


def _belongs(key: str) -> str:
    """Return ": it belongs in [section]" for a key that lives elsewhere, else ""."""
    return f": it belongs in [{KEYS[key]}]" if key in KEYS else ""


def _read_toml(path: Path) -> list[tuple[str, str, Any]]:
    """Return the (section, key, value) of a rota.toml, or raise InvalidInput naming the file.

    Keys may be in their section's table or, for files written before sections, at the top.
    """
    try:
        document = tomllib.loads(path.read_text())
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"{path}: {exc}") from None
    found: list[tuple[str, str, Any]] = []
    for name, value in document.items():
        model = SECTIONS.get(name)
        if model is not None and isinstance(value, dict):
            for key, item in value.items():
                if key not in model.model_fields:
                    raise InvalidInput(
                        f"{path}: unknown setting {excerpt(key)} in [{name}]{_belongs(key)}"
                    )
                found.append((name, key, item))
        elif name in KEYS:
            found.append((KEYS[name], name, value))
        else:
            raise InvalidInput(f"{path}: unknown setting {excerpt(name)}")
    return found


def _environment_keys(environ: Mapping[str, str]) -> list[tuple[str, str, str]]:
    """Return the (section, key, variable) of each ROTA_* variable that names a setting.

    ROTA_<KEY> variables come first and ROTA_<SECTION>__<KEY> ones after, so the longer form
    wins when both are set. Other ROTA_* variables are left alone (ROTA_CONFIG, …), but one
    of the longer form with an unknown key is refused. An empty variable counts as unset, as
    compose files and shells often leave one (`ROTA_PORT=`).
    """
    flat: list[tuple[str, str, str]] = []
    sectioned: list[tuple[str, str, str]] = []
    for name in sorted(environ):
        if not name.startswith(ENV_PREFIX) or not environ[name].strip():
            continue
        rest = name[len(ENV_PREFIX) :].lower()
        section, separator, key = rest.partition(SECTION_SEPARATOR)
        if separator and section in SECTIONS:
            if key not in SECTIONS[section].model_fields:
                raise InvalidInput(
                    f"{name}: unknown setting {excerpt(key)} in [{section}]{_belongs(key)}"
                )
            sectioned.append((section, key, name))
        elif rest in KEYS:
            flat.append((KEYS[rest], rest, name))
    return flat + sectioned


def _describe(exc: ValidationError, origins: Mapping[str, Origin]) -> str:
    """Return each problem as "section.key: what is wrong (from where)", joined by "; "."""
    problems = []
    for error in exc.errors():
        location = [str(part) for part in error["loc"]]
        name = ".".join(location[:2])
        message = error["msg"].removeprefix("Value error, ")
        # A problem of a whole section (tls: both files or neither) names where its keys came from.
        given = [origins[name]] if name in origins else _section_origins(name, origins)
        source = f" (from {', '.join(sorted({str(origin) for origin in given}))})" if given else ""
        problems.append(f"{name}: {message}{source}" if name else message)
    return "; ".join(problems)


def _section_origins(section: str, origins: Mapping[str, Origin]) -> list[Origin]:
    """Return the origins of the keys given in `section` (none for a key's own name)."""
    return [origin for name, origin in origins.items() if name.startswith(f"{section}.")]
