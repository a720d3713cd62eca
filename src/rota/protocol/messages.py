"""The worker protocol's messages: one frozen class per frame type, the whole vocabulary.

A class's fields are its wire fields, by the same names; `TYPE` is the frame's `type` key.
docs/protocol.md lists the same messages and fields, and a test holds the two together.
Limits beyond types (names, counts, ranges) are in each class's `check_limits`, which the
codec runs once, on decoding (rota.protocol.codec).
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from typing import Any, ClassVar, Final, Literal, NoReturn, TypeAlias

from rota.errors import ProtocolError
from rota.jobs import WORKER_NAME_PATTERN, Lease
from rota.safe_text import excerpt
from rota.types import JobId, LeaseToken
from rota.values import text_problem

PROTOCOL_VERSION: Final = 3
"""3: typed messages; a result travels as JSON text; `batch` frames; `ack.error` always sent.
2: a job's code must have stopped before its lease is released (`stopping`, `unleased`)."""
MAX_FRAME_BYTES: Final = 16 * 1024 * 1024
WEBSOCKET_PATH: Final = "/api/v1/workers/connect"

MAX_CAPACITY: Final = 10_000
MAX_LEASES: Final = 100_000
MAX_NAME_CHARS: Final = 200
MAX_SESSION_CHARS: Final = 200
MAX_NAMES: Final = {"queues": 1_000, "tags": 1_000, "tasks": 10_000}
"""The most queues, tags and tasks a hello may list: each is matched against the backlog in
every claim for the worker, so a longer list slows the dispatch of every worker's jobs."""
MAX_ID_CHARS: Final = 200
"""The longest job id or lease token a message may name: the server hands out 36 and 32
characters, and answers with the job id (an ack twice), so the answer must stay small."""
MAX_HORIZON_S: Final = 7 * 86400.0
MAX_LEAD_S: Final = 60.0
_YEAR_10000: Final = 253_402_300_800
"""Seconds since the epoch of the year 10000, past the last time Rota accepts."""
_WORKER_NAME: Final = re.compile(WORKER_NAME_PATTERN)
CLOCK_OFFSET: Final = "clock_offset_s"
"""The key under which the server keeps, beside a worker's resources, its clock offset in
seconds (the heartbeat's `sent_at` minus the server's clock as it arrived)."""


class MessageRefused(ProtocolError):
    """A well-formed message the receiver refuses: values beyond the protocol's limits, or
    another protocol version."""


def _check_names(kind: str, field: str, values: tuple[str, ...]) -> None:
    if len(values) > MAX_NAMES[field]:
        raise MessageRefused(f"{kind}.{field} must list at most {MAX_NAMES[field]:,} names")
    for value in values:
        if not 0 < len(value) <= MAX_NAME_CHARS or text_problem(value) is not None:
            raise MessageRefused(f"{kind}.{field} must be a list of short strings")


def _is_id(text: str) -> bool:
    """Tell whether a job id or lease token a worker names is one the server could have
    handed out: 1 to MAX_ID_CHARS characters, no NUL (PostgreSQL's text refuses it)."""
    return 0 < len(text) <= MAX_ID_CHARS and "\x00" not in text


def _refuse_lease(where: str, job_id: str) -> NoReturn:
    field = "token" if _is_id(job_id) else "job_id"
    raise MessageRefused(f"{where}.{field} must be 1 to {MAX_ID_CHARS} characters without NUL")


def _check_leases(kind: str, running: tuple[Lease, ...], unleased: int) -> None:
    if len(running) > MAX_LEASES:
        raise MessageRefused(f"{kind}.running lists too many jobs")
    if not 0 <= unleased <= MAX_CAPACITY:
        raise MessageRefused(f"{kind}.unleased must be an integer of 0 or more")
    for index, lease in enumerate(running):
        if not (_is_id(lease.job_id) and _is_id(lease.token)):
            _refuse_lease(f"{kind}.running[{index}]", lease.job_id)


# --- parts of messages ---------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class LogLine:
    """One line a task logged: when (seconds since the epoch), on which stream, what."""

    at: float
    stream: str
    """`log`, `stdout` or `stderr`; the server files anything else as `log`."""
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class JobOrder:
    """One item of a `jobs` message: an attempt a worker is asked to run."""

    job_id: JobId
    token: LeaseToken
    task: str
    args: list[Any]
    kwargs: dict[str, Any]
    attempt: int
    max_attempts: int
    """The number of the last attempt this round may reach."""
    timeout_s: float | None
    queue: str
    run_at: float | None = None
    """When the job is due, in seconds since the epoch: a device is handed its reminders
    ahead of this moment and fires them by its own clock."""

    @property
    def lease(self) -> Lease:
        """Return the lease that names this attempt in the worker's messages."""
        return Lease(job_id=self.job_id, token=self.token)


# --- worker -> server ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Hello:
    """The worker's first frame: who it is, what it runs, and the attempts it still holds."""

    TYPE: ClassVar[str] = "hello"
    version: int
    name: str
    queues: tuple[str, ...]
    tags: tuple[str, ...]
    tasks: tuple[str, ...]
    capacity: int
    running: tuple[Lease, ...]
    unleased: int = 0
    horizon_s: float = 0.0
    """A device's: how long before their run_at it takes jobs targeted at it."""
    lead_s: float = 0.0
    """How long before their run_at it takes any job, to start it by its own timer then."""
    prefetch: int = 0
    """Jobs it takes beyond `capacity` (its slots), each started as a running one ends."""
    session: str | None = None
    """The secret its last `welcome` gave it, if any: a worker that reconnects presents it,
    so the server lets it take the place of its own connection it still counts as live."""

    def check_limits(self) -> None:
        """Raise ProtocolError unless the names, counts, capacity, prefetch, horizon, lead
        and session are within limits."""
        if not _WORKER_NAME.fullmatch(self.name):  # `$` also matches before a final \n
            raise MessageRefused(
                f"worker name {excerpt(self.name)} must match {_WORKER_NAME.pattern}"
            )
        for field in ("queues", "tags", "tasks"):
            _check_names("hello", field, getattr(self, field))
        if not self.queues:
            raise MessageRefused("hello.queues must name at least one queue")
        if not 1 <= self.capacity <= MAX_CAPACITY:
            raise MessageRefused(f"hello.capacity must be between 1 and {MAX_CAPACITY}")
        if not 0 <= self.prefetch <= MAX_CAPACITY - self.capacity:
            raise MessageRefused(
                f"hello.prefetch must be between 0 and {MAX_CAPACITY} - capacity "
                f"({MAX_CAPACITY - self.capacity})"
            )
        _check_leases("hello", self.running, self.unleased)
        if not 0 <= self.horizon_s <= MAX_HORIZON_S:
            raise MessageRefused(f"hello.horizon_s must be between 0 and {MAX_HORIZON_S:g}")
        if not 0 <= self.lead_s <= MAX_LEAD_S:
            raise MessageRefused(f"hello.lead_s must be between 0 and {MAX_LEAD_S:g}")
        if self.session is not None and not 0 < len(self.session) <= MAX_SESSION_CHARS:
            raise MessageRefused(f"hello.session must be 1 to {MAX_SESSION_CHARS} characters")


@dataclass(frozen=True, kw_only=True, slots=True)
class Heartbeat:
    """Every heartbeat_s: the attempts whose code has not stopped, and the worker's figures."""

    TYPE: ClassVar[str] = "heartbeat"
    running: tuple[Lease, ...]
    unleased: int = 0
    state: Literal["online", "draining"]
    resources: dict[str, Any]
    sent_at: float | None = None
    """The worker's clock as it sent the heartbeat (seconds since the epoch): the server
    takes the worker's clock offset from it."""

    def check_limits(self) -> None:
        """Raise ProtocolError if it lists too many leases, a negative unleased count, or a
        sent_at that is not a time (seconds since the epoch, before the year 10000)."""
        _check_leases("heartbeat", self.running, self.unleased)
        if self.sent_at is not None and not 0 <= self.sent_at < _YEAR_10000:
            raise MessageRefused(
                "heartbeat.sent_at must be a time: 0 to 253402300800 seconds since the epoch"
            )


class _NamesAnAttempt:
    """A worker's message about one attempt, named by its job id and lease token."""

    __slots__ = ()
    TYPE: ClassVar[str]
    job_id: JobId
    token: LeaseToken

    @property
    def lease(self) -> Lease:
        """Return the lease the message presents."""
        return Lease(job_id=self.job_id, token=self.token)

    def check_limits(self) -> None:
        """Raise ProtocolError unless the job id and token are ids (see _is_id)."""
        if not (_is_id(self.job_id) and _is_id(self.token)):
            _refuse_lease(self.TYPE, self.job_id)


@dataclass(frozen=True, kw_only=True, slots=True)
class Progress(_NamesAnAttempt):
    """A task's latest progress report (0..1 or nil) and message."""

    TYPE: ClassVar[str] = "progress"
    job_id: JobId
    token: LeaseToken
    progress: float | None = None
    message: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Log(_NamesAnAttempt):
    """Lines a task logged, batched."""

    TYPE: ClassVar[str] = "log"
    job_id: JobId
    token: LeaseToken
    lines: tuple[LogLine, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Result(_NamesAnAttempt):
    """The attempt succeeded; its result travels as the JSON text rota.values made of it."""

    TYPE: ClassVar[str] = "result"
    job_id: JobId
    token: LeaseToken
    result_json: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure(_NamesAnAttempt):
    """The attempt failed; retried after its backoff if `retryable` and attempts are left."""

    TYPE: ClassVar[str] = "failure"
    job_id: JobId
    token: LeaseToken
    error: str
    traceback: str | None = None
    retryable: bool


@dataclass(frozen=True, kw_only=True, slots=True)
class Release(_NamesAnAttempt):
    """The attempt's code has stopped (or never started): end the lease unrun."""

    TYPE: ClassVar[str] = "release"
    job_id: JobId
    token: LeaseToken


@dataclass(frozen=True, kw_only=True, slots=True)
class Stopping(_NamesAnAttempt):
    """The worker asked the attempt's code to stop, or the code has not stopped in time."""

    TYPE: ClassVar[str] = "stopping"
    job_id: JobId
    token: LeaseToken
    message: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Drain:
    """From a worker: it is draining, send it no more jobs. From a server: drain."""

    TYPE: ClassVar[str] = "drain"


# --- server -> worker ----------------------------------------------------------------


@dataclass(frozen=True, kw_only=True, slots=True)
class Welcome:
    """The answer to hello; `stale` names re-presented jobs whose lease is gone."""

    TYPE: ClassVar[str] = "welcome"
    version: int
    server: str
    heartbeat_s: float
    lease_s: float
    stale: tuple[JobId, ...]
    session: str | None = None
    """A secret of this connection: the worker presents it in its next hello, to be let in
    while the server still counts this connection as live (after a network loss)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class Jobs:
    """Attempts to run, never more than the worker's free slots."""

    TYPE: ClassVar[str] = "jobs"
    jobs: tuple[JobOrder, ...]
    sent_at: float | None = None
    """The server's clock as it packed the frame (seconds since the epoch): a worker that
    holds a job until its run_at takes its clock's offset from it (never an early start)."""

    def check_limits(self) -> None:
        """Raise ProtocolError if sent_at is not a finite number."""
        if self.sent_at is not None and not math.isfinite(self.sent_at):
            raise MessageRefused("jobs.sent_at must be a finite number of seconds")


@dataclass(frozen=True, kw_only=True, slots=True)
class Cancel:
    """The job was cancelled: stop its code, then release its lease."""

    TYPE: ClassVar[str] = "cancel"
    job_id: JobId
    reason: str


@dataclass(frozen=True, kw_only=True, slots=True)
class Leases:
    """The answer to a heartbeat that named stale leases: stop those jobs. A device also
    gets one when a job it holds ahead of its time is taken back (edited)."""

    TYPE: ClassVar[str] = "leases"
    stale: tuple[JobId, ...]


@dataclass(frozen=True, kw_only=True, slots=True)
class Ack:
    """A final word was recorded (`ok`), or refused as stale (`error` says why)."""

    TYPE: ClassVar[str] = "ack"
    job_id: JobId
    ok: bool
    error: str | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Error:
    """The connection is about to be closed because of a protocol error or a refusal; the
    close code says which (rota.protocol.closing)."""

    TYPE: ClassVar[str] = "error"
    message: str


# --- both ways -----------------------------------------------------------------------

WorkerMessage: TypeAlias = (
    Hello | Heartbeat | Progress | Log | Result | Failure | Release | Stopping | Drain
)
ServerMessage: TypeAlias = Welcome | Jobs | Cancel | Leases | Ack | Drain | Error
Message: TypeAlias = WorkerMessage | ServerMessage


@dataclass(frozen=True, kw_only=True, slots=True)
class Batch:
    """Several messages in one frame, handled in order: what one side had ready together."""

    TYPE: ClassVar[str] = "batch"
    messages: tuple[Message, ...]


FROM_WORKER: Final[tuple[type, ...]] = (
    Hello,
    Heartbeat,
    Progress,
    Log,
    Result,
    Failure,
    Release,
    Stopping,
    Drain,
    Batch,
)
FROM_SERVER: Final[tuple[type, ...]] = (
    Welcome,
    Jobs,
    Cancel,
    Leases,
    Ack,
    Drain,
    Error,
    Batch,
)
ALONE: Final[frozenset[type]] = frozenset({Hello, Welcome, Error, Batch})
"""Messages that never travel inside a batch: the handshake, the last word, a batch."""
