"""What both store backends share: moments as microseconds, JSON text, the validation of
a job spec and its fingerprint, strictly increasing job ids, and the shape of a page of jobs."""

from __future__ import annotations

import hashlib
import json
import re
from collections.abc import Callable, Sequence
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from rota.errors import (
    IdempotencyConflict,
    InvalidInput,
    InvalidTransition,
    JobStopping,
    RotaError,
    StaleLease,
)
from rota.ids import new_job_id, uuid_text
from rota.jobs import Job, JobSpec, JobState, Lease
from rota.lifecycle import EDIT_MARGIN_S
from rota.moments import MAX_TIMEOUT_S, check_span
from rota.retry import DEFAULT_BACKOFF, Backoff
from rota.safe_text import excerpt
from rota.store.base import JobPage, JobQuery, Outcome, Success
from rota.store.explore import JobSort, search_terms
from rota.types import JSON
from rota.values import JsonText

MAX_PAGE = 1000
AFTER_EVERY_ID = "~"
"""Sorts after every job id (ids are hex and dashes): the cursor of a first page."""

EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MICROSECOND = timedelta(microseconds=1)


def to_us(moment: datetime) -> int:
    """Return an aware datetime as integer microseconds since the epoch."""
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise InvalidInput(f"{moment.isoformat()} has no time zone; give an aware datetime")
    return (moment - EPOCH) // _MICROSECOND


def from_us(value: int) -> datetime:
    """Return the aware UTC datetime of integer microseconds since the epoch."""
    return EPOCH + timedelta(microseconds=value)


def maybe_from_us(value: int | None) -> datetime | None:
    """Return from_us(value), or None for None."""
    return None if value is None else from_us(value)


_STORED_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False)
"""What `json.dumps(value, separators=(",", ":"), allow_nan=False)` makes, without making
an encoder for each call."""
_CANONICAL_JSON = json.JSONEncoder(separators=(",", ":"), allow_nan=False, sort_keys=True)


def dump_json(value: JSON, what: str) -> str:
    """Return compact JSON text, or raise InvalidInput naming what could not be encoded.

    A value that arrives as JsonText was checked and encoded where it entered Rota: its text
    is kept as it is."""
    if isinstance(value, JsonText):
        return value.text
    if type(value) is list and not value:
        return "[]"
    if type(value) is dict and not value:
        return "{}"
    try:
        return _STORED_JSON.encode(value)
    except (TypeError, ValueError) as exc:
        raise InvalidInput(f"{what} is not JSON: {exc}") from None


def dump_backoff(policy: Backoff) -> str:
    """Return a backoff policy as JSON text."""
    if policy is DEFAULT_BACKOFF:
        return DEFAULT_BACKOFF_TEXT
    return _backoff_text(policy)


def _backoff_text(policy: Backoff) -> str:
    return dump_json(
        {
            "base_s": policy.base_s,
            "factor": policy.factor,
            "max_s": policy.max_s,
            "jitter": policy.jitter,
        },
        "backoff",
    )


DEFAULT_BACKOFF_TEXT = _backoff_text(DEFAULT_BACKOFF)
"""The default backoff policy as JSON text (the policy of most jobs)."""

Fingerprints = dict[tuple[Any, ...], str]
"""Fingerprints already computed, by everything they hash but arguments (see fingerprint)."""


def spec_params(
    index: int,
    spec: JobSpec,
    job_id: str,
    now_us: int,
    fingerprints: Fingerprints | None = None,
) -> dict[str, Any]:
    """Return the insert_job parameters of a spec, or raise InvalidInput saying what is wrong.

    `fingerprints`, when given, keeps the fingerprints of specs without arguments for the
    next specs of one submission (a bulk's items often differ in their keys alone)."""
    where = f"job {index}"
    if not isinstance(spec.task, str) or not spec.task:
        raise InvalidInput(f"{where}: the task name must be a non-empty string")
    if not isinstance(spec.queue, str) or not spec.queue:
        raise InvalidInput(f"{where}: the queue must be a non-empty string")
    if not _is_int(spec.priority):
        raise InvalidInput(f"{where}: priority must be an integer")
    if not _is_int(spec.max_attempts) or spec.max_attempts < 1:
        raise InvalidInput(f"{where}: max_attempts must be an integer of at least 1")
    if spec.timeout_s is not None:
        check_span(spec.timeout_s, f"{where}: timeout_s", positive=True, max_s=MAX_TIMEOUT_S)
    if not isinstance(spec.args, list):
        raise InvalidInput(f"{where}: args must be a list")
    if not isinstance(spec.kwargs, dict) or not all(isinstance(k, str) for k in spec.kwargs):
        raise InvalidInput(f"{where}: kwargs must be a mapping with string keys")
    if not isinstance(spec.backoff, Backoff):
        raise InvalidInput(f"{where}: backoff must be a Backoff")
    return {
        "id": job_id,
        "task": spec.task,
        "args": dump_json(spec.args, f"{where}: args"),
        "kwargs": dump_json(spec.kwargs, f"{where}: kwargs"),
        "queue": spec.queue,
        "priority": spec.priority,
        "run_at": now_us if spec.run_at is None else to_us(spec.run_at),
        "target": spec.target,
        "max_attempts": spec.max_attempts,
        "backoff": dump_backoff(spec.backoff),
        "timeout_s": None if spec.timeout_s is None else float(spec.timeout_s),
        "deadline_at": None if spec.deadline_at is None else to_us(spec.deadline_at),
        "idempotency_key": spec.idempotency_key,
        "schedule_id": spec.schedule_id,
        # After args and kwargs: they are JSON by now. Only a key's holder is ever compared
        # with a later submission, so a job without a key keeps none (no hash, a shorter row).
        "fingerprint": (None if spec.idempotency_key is None else fingerprint(spec, fingerprints)),
        "now": now_us,
    }


def fingerprint(spec: JobSpec, known: Fingerprints | None = None) -> str:
    """Return what makes two submissions under one idempotency key the same, as a hash.

    The same means: task, args, kwargs, queue, priority, target, max_attempts, backoff and
    timeout. When the job runs (run_at, a delay, deadline) is left out, so a client that
    retries a submission and computes its times again still gets its job back.

    `known` (see Fingerprints) keeps the fingerprints of specs without arguments, by the
    values hashed (with their types: 1 and 1.0 are written differently).
    """
    policy = spec.backoff
    memo: tuple[Any, ...] | None = None
    if known is not None and _no_arguments(spec):
        memo = tuple(
            (type(value), value)
            for value in (
                spec.task,
                spec.queue,
                spec.priority,
                spec.target,
                spec.max_attempts,
                policy.base_s,
                policy.factor,
                policy.max_s,
                policy.jitter,
                spec.timeout_s,
            )
        )
        held = known.get(memo)
        if held is not None:
            return held
    canonical = {
        "task": spec.task,
        "args": spec.args,
        "kwargs": spec.kwargs,
        "queue": spec.queue,
        "priority": spec.priority,
        "target": spec.target,
        "max_attempts": spec.max_attempts,
        "backoff": [float(policy.base_s), float(policy.factor), float(policy.max_s)],
        "jitter": float(policy.jitter),
        "timeout_s": None if spec.timeout_s is None else float(spec.timeout_s),
    }
    text = _CANONICAL_JSON.encode(canonical)
    made = hashlib.sha256(text.encode()).hexdigest()
    if memo is not None and known is not None:
        known[memo] = made
    return made


def _no_arguments(spec: JobSpec) -> bool:
    return (
        type(spec.args) is list and not spec.args and type(spec.kwargs) is dict and not spec.kwargs
    )


def check_same_submission(
    spec: JobSpec, holder: Job | None, held: str | None, *, batch: tuple[int, int] | None = None
) -> None:
    """Raise IdempotencyConflict unless `spec` is the same submission as the one that made
    `holder`, whose stored fingerprint is `held`.

    `batch` is (this spec's index, the index of the earlier spec) when `holder` was made by
    an earlier spec of the same batch: as a conflict stores nothing of the batch, that job
    will never exist, so the message names the earlier item instead of its id (and
    `holder` may be None, the job not made yet).

    A schedule's occurrence is never a conflict (its key names the fire time, and an edit of
    the schedule must not stop the scheduler); nor is a job stored before fingerprints were.
    """
    if spec.schedule_id is not None or held is None or held == fingerprint(spec):
        return
    key = excerpt(spec.idempotency_key)
    if batch is not None:
        index, earlier = batch
        raise IdempotencyConflict(
            f"jobs[{index}].idempotency_key {key} is also given to jobs[{earlier}] of the same "
            "list, with a different task, arguments or options; nothing of the list was "
            "stored: give each submission its own key"
        )
    raise IdempotencyConflict(
        f"idempotency_key {key} is held by job "
        f"{holder.id if holder is not None else 'another'}, submitted with a different task, "
        "arguments or options; send the same submission to get that job, or use another key"
    )


def _is_int(value: object) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


class JobIds:
    """Issues job ids that increase strictly, so id order is submission order.

    UUIDv7 ids made in the same millisecond differ only by random bits; when a new id would
    not sort after the last one, the last one plus one is used instead (still a valid v7).
    The last id is kept as a number, so a bulk's ids within one millisecond cost an
    addition each, not a random draw and a parse of the text.
    """

    def __init__(self, last: str | None = None) -> None:
        self._last = int(last.replace("-", ""), 16) if last else 0

    def next(self, now: datetime) -> str:
        """Return a new id, later than every id issued before, stamped with `now`."""
        now_ms = to_us(now) // 1000
        if now_ms <= self._last >> 80:
            # Nothing made in this millisecond can sort after the last id: skip the draw.
            self._last += 1
        else:
            self._last = int(new_job_id(now_ms).replace("-", ""), 16)
        return uuid_text(self._last)


def page_params(query: JobQuery) -> dict[str, Any]:
    """Return the list query's parameters (one row more than the page, to see if another
    follows), or raise InvalidInput for a limit out of range."""
    if not 1 <= query.limit <= MAX_PAGE:
        raise InvalidInput(f"limit must be between 1 and {MAX_PAGE}")
    return {
        "state": None if query.state is None else str(query.state),
        "queue": query.queue,
        "task": query.task,
        "worker": query.worker,
        "before": AFTER_EVERY_ID if query.cursor is None else id_cursor(query.cursor),
        "limit": query.limit + 1,
    }


_JOB_ID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")


def id_cursor(cursor: str) -> str:
    """Return the cursor of a list in creation order (the id of the last job of the page
    before), or raise InvalidInput for any other text: compared as an id, it would answer a
    page that starts at a made-up place, or an empty one, rather than an error."""
    if _JOB_ID.fullmatch(cursor) is None:
        if cursor.startswith(OFFSET_CURSOR):
            raise InvalidInput("cursor: not a cursor of a list in creation order")
        raise InvalidInput(f"cursor: {excerpt(cursor)} is not a cursor of a list of jobs")
    return cursor


def to_page(jobs: list[Job], limit: int) -> JobPage:
    """Return the page of the first `limit` jobs, with a cursor if more were found."""
    page = jobs[:limit]
    return JobPage(jobs=page, next_cursor=page[-1].id if len(jobs) > limit else None)


OFFSET_CURSOR = "offset:"
"""A page sorted by anything but creation starts at a position: 'offset:<n>'."""


def filter_params(query: JobQuery) -> dict[str, Any]:
    """Return the filter_jobs parameters of any query (moments left to the backend to
    convert: the keys ending in _at hold aware datetimes or None). A page in creation order
    starts after the cursor's id; a page in another order starts at the cursor's offset.
    InvalidInput for a limit out of range or a cursor of the other kind."""
    params = page_params(replace(query, cursor=None))
    before = after = None
    offset = 0
    if query.sort is JobSort.CREATED_AT:
        if query.cursor is not None:
            cursor = id_cursor(query.cursor)
            before, after = (cursor, None) if query.descending else (None, cursor)
    elif query.cursor is not None:
        offset = _offset(query.cursor)
    params.update(
        before=before,
        after=after,
        offset=offset,
        schedule_id=query.schedule_id,
        created_after=query.created_after,
        created_before=query.created_before,
        finished_after=query.finished_after,
        sort=str(query.sort),
        descending=query.descending,
        **search_terms(query.search),
    )
    return params


def _offset(cursor: str) -> int:
    text = cursor.removeprefix(OFFSET_CURSOR)
    if cursor == text or not text.isdigit() or len(text) > 9:
        raise InvalidInput(f"cursor: {excerpt(cursor)} is not a cursor of a sorted list")
    return int(text)


def to_filtered_page(jobs: list[Job], query: JobQuery, offset: int) -> JobPage:
    """Return the page of filter_jobs rows: the cursor of the next page, if any, is the last
    job's id in creation order, else the offset where the next page starts."""
    if query.sort is JobSort.CREATED_AT:
        return to_page(jobs, query.limit)
    page = jobs[: query.limit]
    more = len(jobs) > query.limit
    return JobPage(
        jobs=page, next_cursor=f"{OFFSET_CURSOR}{offset + query.limit}" if more else None
    )


def retry_params(
    args: list[JSON] | None, kwargs: dict[str, JSON] | None
) -> tuple[dict[str, str | None], str | None]:
    """Return the retry query's new arguments as JSON text (None: unchanged) and the
    message of its `retried` event (None when nothing changed); InvalidInput if not JSON."""
    if args is not None and not isinstance(args, list):
        raise InvalidInput("args must be a list")
    if kwargs is not None and not (
        isinstance(kwargs, dict) and all(isinstance(key, str) for key in kwargs)
    ):
        raise InvalidInput("kwargs must be a mapping with string keys")
    params = {
        "args": None if args is None else dump_json(args, "args"),
        "kwargs": None if kwargs is None else dump_json(kwargs, "kwargs"),
    }
    changed = [name for name, value in params.items() if value is not None]
    return params, ("with new " + " and ".join(changed) if changed else None)


_ACTIONS = {"cancel": "cancelled", "retry": "retried", "update_job": "changed"}


def refusal(verb: str, job: Job) -> InvalidTransition:
    """Return the error saying why the job refused `verb` (cancel, retry or update_job)."""
    if verb == "retry" and job.state.finished and job.stopping:
        return JobStopping(
            f"job {job.id} is still stopping on worker {job.worker}: the code of its last "
            "attempt has not stopped yet; retry it once it has"
        )
    if verb == "update_job" and job.state is JobState.RUNNING and job.stop_requested_at is None:
        return InvalidTransition(
            f"a running job cannot be changed: job {job.id} is with worker {job.worker}, "
            f"which starts it at {job.run_at.isoformat()} if it has not yet (a job handed "
            f"over ahead can be changed until {EDIT_MARGIN_S:g} s before its start); cancel "
            "it and submit it again instead"
        )
    return InvalidTransition(f"a {job.state} job cannot be {_ACTIONS[verb]}")


def stale_lease(lease: Lease, job: Job | None) -> StaleLease:
    """Return the StaleLease error for a lease whose job is now `job` (None: no such job)."""
    if job is None:
        return StaleLease(f"the lease on job {lease.job_id} is stale: no such job")
    if job.state is JobState.RUNNING:
        return StaleLease(f"the lease on job {lease.job_id} is stale: the job was claimed again")
    return StaleLease(f"the lease on job {lease.job_id} is stale: the job is {job.state}")


class Row(Protocol):
    """A database row read by column name (sqlite3.Row, asyncpg.Record)."""

    def __getitem__(self, key: str, /) -> Any: ...


def _loads(text: str | None) -> Any:
    return None if text is None else json.loads(text)


def load_list(text: str) -> Any:
    """Return json.loads(text), at once for an empty list (most jobs' args)."""
    return [] if text == "[]" else json.loads(text)


def load_dict(text: str) -> Any:
    """Return json.loads(text), at once for an empty object (most jobs' kwargs)."""
    return {} if text == "{}" else json.loads(text)


def load_backoff(text: str) -> Backoff:
    """Return the backoff policy stored as `text` (the default one without decoding it)."""
    if text == DEFAULT_BACKOFF_TEXT:
        return DEFAULT_BACKOFF
    return Backoff(**json.loads(text))


def job_from_row(row: Row, moment: Callable[[Any], datetime]) -> Job:
    """Return the Job a jobs row holds; `moment` turns a stored time into an aware UTC
    datetime (microseconds in SQLite, timestamptz in PostgreSQL) and is never given None."""

    def maybe(value: Any) -> datetime | None:
        return None if value is None else moment(value)

    return Job(
        id=row["id"],
        task=row["task"],
        args=load_list(row["args"]),
        kwargs=load_dict(row["kwargs"]),
        queue=row["queue"],
        priority=row["priority"],
        state=JobState(row["state"]),
        run_at=moment(row["run_at"]),
        target=row["target"],
        max_attempts=row["max_attempts"],
        backoff=load_backoff(row["backoff"]),
        timeout_s=row["timeout_s"],
        deadline_at=maybe(row["deadline_at"]),
        idempotency_key=row["idempotency_key"],
        schedule_id=row["schedule_id"],
        attempt=row["attempt"],
        prior_attempts=row["prior_attempts"],
        lease_token=row["lease_token"],
        lease_expires_at=maybe(row["lease_expires_at"]),
        worker=row["worker"],
        result=_loads(row["result"]),
        error=row["error"],
        traceback=row["traceback"],
        progress=row["progress"],
        progress_message=row["progress_message"],
        created_at=moment(row["created_at"]),
        updated_at=moment(row["updated_at"]),
        started_at=maybe(row["started_at"]),
        finished_at=maybe(row["finished_at"]),
        stop_requested_at=maybe(row["stop_requested_at"]),
    )


def prepare_outcomes(outcomes: Sequence[Outcome]) -> list[str | RotaError | None]:
    """Return, for each outcome, what settling it needs before a transaction begins: a
    Success's result as JSON text, None for a Failure, or the error that refuses the item
    alone (InvalidInput for a result that is not JSON; StaleLease for an outcome whose lease
    an earlier item of the same batch already settles)."""
    prepared: list[str | RotaError | None] = []
    seen: set[tuple[str, str]] = set()
    for outcome in outcomes:
        lease = (outcome.lease.job_id, outcome.lease.token)
        if lease in seen:
            prepared.append(
                StaleLease(
                    f"the lease on job {outcome.lease.job_id} is stale: an earlier outcome "
                    "of the same batch settles it"
                )
            )
            continue
        seen.add(lease)
        if not isinstance(outcome, Success):
            prepared.append(None)
            continue
        try:
            prepared.append(dump_json(outcome.result, "the result"))
        except RotaError as exc:
            prepared.append(exc)
    return prepared
