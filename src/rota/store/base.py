"""The Store protocol: the verbs every backend offers and the guarantees each one keeps.

Every verb that changes a job is one atomic operation: two servers calling it at once on
the same job never both succeed where only one may (claim, reap, cancel, retry, fence).
Every transition writes its event in the same transaction as the change. A verb that
returns has made its change durable (with durability "relaxed", only committed: see
Durability).

Times are aware UTC datetimes. "now" is the store's clock: the injected Clock for SQLite,
the database's clock for PostgreSQL.
"""

from __future__ import annotations

from collections.abc import Hashable, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol

from rota.auth.tokens import TokenRecord
from rota.errors import RotaError
from rota.jobs import Event, Job, JobSpec, JobState, Lease
from rota.scheduling.model import Firing, Schedule, ScheduleSpec
from rota.store.explore import Explorer, JobSort
from rota.store.feed import ChangeFeed
from rota.store.names import NameClaim, NameHeld
from rota.types import JSON, JobId

Durability = Literal["full", "relaxed"]
"""When a store's verb returns. "full": once its change is flushed to disk (it survives a
power loss). "relaxed": once committed, before the flush: the store stays consistent, a
crash of the Rota server loses nothing, but a power loss or an operating system crash (on
PostgreSQL also a crash of the database server) may lose the changes of the last moments."""


@dataclass(frozen=True, kw_only=True, slots=True)
class AcquireRequest:
    """A worker's free slots, and what it may run."""

    worker: str
    queues: Sequence[str]
    tags: Sequence[str] = ()
    tasks: Sequence[str] | None = None
    """The task names the worker can run; None means any."""
    limit: int = 1
    lease_s: float = 30.0
    horizon_s: float = 0.0
    """How long before its run_at a job targeted at this worker (by its name or one of its
    tags) may be claimed: a device holds its reminders and fires them by its own clock.
    0 (ordinary workers): only due jobs (or those within `lead_s`)."""
    lead_s: float = 0.0
    """How long before its run_at any job (targeted or not) may be claimed: the worker holds
    it and starts it by its own timer at its run_at, so the claim's round trip is not part
    of the job's lateness. 0: only due jobs."""
    targets: Sequence[str] | None = None
    """For a worker whose token is bound (`rota.auth.tokens.Binding`): the only targets
    whose jobs it may claim (its name, or those of its tags the binding admits); it claims
    no untargeted job. None: untargeted jobs and those targeted at its name or a tag."""


def claimable(request: AcquireRequest) -> tuple[bool, list[str]]:
    """Return which targeted jobs a request may claim, as the claim queries take it:
    (whether untargeted jobs and those targeted at the worker's name are claimable, the
    other targets whose jobs are)."""
    if request.targets is None:
        return True, list(request.tags)
    return False, list(dict.fromkeys(request.targets))


def claim_key(request: AcquireRequest) -> Hashable:
    """Return what decides which jobs a request may claim (all but its limit and lease).

    Within one claim transaction, a request that came back short of its limit leaves
    nothing for a later request with the same key: claims only take jobs away.
    """
    tasks = None if request.tasks is None else tuple(request.tasks)
    return (
        request.worker,
        tuple(request.queues),
        tuple(request.tags),
        tasks,
        request.horizon_s,
        request.lead_s,
        None if request.targets is None else tuple(request.targets),
    )


@dataclass(frozen=True, kw_only=True, slots=True)
class Success:
    """An attempt whose code returned: the job succeeds with this result."""

    lease: Lease
    result: JSON = None


@dataclass(frozen=True, kw_only=True, slots=True)
class Failure:
    """An attempt whose code raised or timed out: retried or failed, as the lifecycle rules
    (rota.lifecycle.after_failure) decide."""

    lease: Lease
    error: str
    traceback: str | None = None
    retryable: bool = True


Outcome = Success | Failure
"""How one attempt ended, as its worker reports it."""

Settled = Job | RotaError
"""What became of one outcome: the job as it now is, or the error that refused the outcome
alone (StaleLease for a lease no longer current, InvalidInput for a result that is not JSON)."""


@dataclass(frozen=True, kw_only=True, slots=True)
class JobQuery:
    """A filter over jobs, newest first, one page at a time."""

    state: JobState | None = None
    queue: str | None = None
    task: str | None = None
    """A task name, or the start of one."""
    worker: str | None = None
    search: str | None = None
    """Matches, ignoring case, a job whose id starts or ends with it (the short id shown),
    whose idempotency key is it, whose task name starts with it, or whose args, kwargs,
    result or error hold it."""
    schedule_id: str | None = None
    created_after: datetime | None = None
    """Only jobs created at or after this moment."""
    created_before: datetime | None = None
    """Only jobs created before this moment."""
    finished_after: datetime | None = None
    """Only jobs that finished at or after this moment."""
    sort: JobSort = JobSort.CREATED_AT
    descending: bool = True
    limit: int = 50
    cursor: str | None = None
    """Where the page starts: the next_cursor of the previous page."""

    @property
    def plain(self) -> bool:
        """Tell whether only the filters an index serves directly are used, newest first."""
        return (
            self.task is None
            and self.search is None
            and self.schedule_id is None
            and self.created_after is None
            and self.created_before is None
            and self.finished_after is None
            and self.sort is JobSort.CREATED_AT
            and self.descending
        )


@dataclass(frozen=True, kw_only=True, slots=True)
class JobPage:
    jobs: list[Job]
    next_cursor: str | None


@dataclass(frozen=True, kw_only=True, slots=True)
class JobChanges:
    """Changes to a pending job; None leaves a field as it is."""

    run_at: datetime | None = None
    priority: int | None = None
    args: list[JSON] | None = None
    kwargs: dict[str, JSON] | None = None


@dataclass(frozen=True, kw_only=True, slots=True)
class QueueStats:
    queue: str
    pending: int
    """Pending jobs, due or not."""
    due: int
    """Pending jobs whose run_at has come."""
    running: int
    oldest_due_age_s: float | None
    """How long the oldest due job has waited, None when nothing is due."""


WorkerState = Literal["online", "draining", "offline"]
"""Where a worker stands: connected and taking work, finishing what it runs, or gone."""


@dataclass(frozen=True, kw_only=True, slots=True)
class WorkerInfo:
    name: str
    queues: list[str]
    tags: list[str] = field(default_factory=list)
    tasks: list[str] = field(default_factory=list)
    capacity: int = 1
    running: int = 0
    state: WorkerState = "online"
    server: str | None = None
    connected_at: datetime | None = None
    last_seen_at: datetime | None = None
    resources: dict[str, Any] = field(default_factory=dict)
    session_digest: str | None = field(default=None, repr=False)
    """The SHA-256 digest of the session secret of the connection that holds the name (see
    store/names.py); kept in the store only, never shown."""

    def to_dict(self) -> dict[str, Any]:
        """Return the worker as JSON-ready data."""
        return {
            "name": self.name,
            "queues": self.queues,
            "tags": self.tags,
            "tasks": self.tasks,
            "capacity": self.capacity,
            "running": self.running,
            "state": self.state,
            "server": self.server,
            "connected_at": self.connected_at.isoformat() if self.connected_at else None,
            "last_seen_at": self.last_seen_at.isoformat() if self.last_seen_at else None,
            "resources": self.resources,
        }


class Store(Explorer, Protocol):
    """Where jobs, their events and the worker registry live (and, through Explorer, what
    people ask of them)."""

    @property
    def feed(self) -> ChangeFeed:
        """The change feed: every verb that changes jobs publishes them there before it
        returns (see store/feed.py); on a store several servers share, changes made
        through the others arrive there too."""
        ...

    @property
    def shared(self) -> bool:
        """Whether other servers may use this store at the same time (PostgreSQL). An
        SQLite file has one server: whatever another server left in it is a leftover."""
        ...

    async def open(self) -> None:
        """Connect, and bring the schema up to date with the migrations."""
        ...

    async def close(self) -> None:
        """Flush pending writes and disconnect."""
        ...

    async def migrate(self) -> int:
        """Apply the schema migrations the database lacks (open() does too); return how many.

        Safe when several servers migrate at once: each migration is applied exactly once.
        """
        ...

    async def now(self) -> datetime:
        """Return the store's clock: the time every lease and run_at is measured by."""
        ...

    # --- clients ---------------------------------------------------------------------

    async def submit(self, specs: Sequence[JobSpec]) -> list[Job]:
        """Insert jobs as pending, all or none, and return them in order.

        A spec whose idempotency_key already names a job returns that job unchanged when it
        is the same submission (store.common.fingerprint: task, arguments and options, not
        its times); otherwise IdempotencyConflict, and nothing of the batch is stored. A
        schedule's occurrence (schedule_id set) always returns the job its key names.
        A spec without run_at is due now. Writes a `submitted` event per new job.
        """
        ...

    async def get_job(self, job_id: JobId) -> Job:
        """Return the job, or raise JobNotFound."""
        ...

    async def list_jobs(self, query: JobQuery) -> JobPage:
        """Return one page of jobs matching the query, in its order (newest first unless
        told), and the cursor of the next page. InvalidInput for a cursor not made by the
        same order."""
        ...

    async def update(self, job_id: JobId, changes: JobChanges) -> Job:
        """Change run_at, priority or args of a pending job, or of one held ahead of its
        run_at (rota.lifecycle.held_ahead: a device holds it), which goes back to pending
        with the changes, its lease ended as a release ends it; InvalidTransition otherwise."""
        ...

    async def cancel(self, job_id: JobId) -> Job:
        """Cancel a pending or running job, and write a `cancelled` event.

        A running job is cancelled at once, but its worker keeps the lease until the
        attempt's code has stopped: the job is stopping (stop_requested_at = now) until the
        worker releases the lease or the lease expires. Meanwhile the token can extend the
        lease and release it, but no longer complete, fail or report progress.
        Raises InvalidTransition for a finished job, JobNotFound for an unknown id.
        """
        ...

    async def retry(
        self,
        job_id: JobId,
        *,
        args: list[JSON] | None = None,
        kwargs: dict[str, JSON] | None = None,
    ) -> Job:
        """Put a failed, cancelled or expired job back to pending, due now, with a fresh
        round of max_attempts claims: prior_attempts = attempt, and attempts keep counting
        from there, so every attempt keeps its own number in the execution log. New args
        or kwargs, when given, replace the job's in the same change (checked by the caller
        as a submission's are; the `retried` event says which changed).
        JobStopping while the last attempt's code is still stopping (its lease is held);
        InvalidTransition for any other state."""
        ...

    async def events(self, job_id: JobId, *, after_id: int = 0, limit: int = 1000) -> list[Event]:
        """Return the job's execution log in order (JobNotFound for an unknown id)."""
        ...

    async def queue_stats(self) -> list[QueueStats]:
        """Return depth, running count and oldest due age for every queue with jobs."""
        ...

    async def known_tasks(self) -> set[str]:
        """Return every task name a registered worker (online or not) has announced."""
        ...

    # --- dispatch and leases -----------------------------------------------------------

    async def acquire(self, request: AcquireRequest) -> list[Job]:
        """Claim up to `limit` due pending jobs the worker may run, and return them running.

        A job is eligible when its queue is one of the worker's, its task is one the
        worker has (when `tasks` is given), its target is None, the worker's name or one of
        its tags, and its deadline has not passed; it is due when run_at <= now, or, for a
        job with a target, run_at <= now + horizon_s. Order: priority (higher first), then
        run_at, then submission order. Each claim increments `attempt` (never reset, not
        even by a manual retry), sets a fresh lease_token, worker, started_at and
        lease_expires_at = now + lease_s, and writes a `started` event ("attempt N of M",
        M being the last attempt of the round). No two callers ever claim the same job.
        """
        ...

    async def acquire_many(self, requests: Sequence[AcquireRequest]) -> list[list[Job]]:
        """Claim jobs for several workers' free slots in one transaction, and return each
        request's claims in the order of the requests.

        Each request is served exactly as acquire would serve it alone, one after the other
        (an earlier request has first pick), with the same eligibility, order, attempt
        numbers, leases and `started` events; no job is claimed twice, across the requests
        or across servers. A request with a non-positive lease_s raises InvalidInput and
        nothing is claimed.
        """
        ...

    async def extend(
        self, worker: str, tokens: Sequence[str], lease_s: float
    ) -> dict[str, JobState]:
        """Extend, in one statement, the leases the worker holds with these tokens to now +
        lease_s. Return the state of each valid lease's job by token: running, or cancelled
        (cancelled while it ran: the worker must stop its code, then release the lease).
        Tokens left out are stale."""
        ...

    async def expire_leases_of(self, worker: str, grace_s: float) -> int:
        """Bring every lease the worker holds (running or stopping) to expire within
        grace_s (its connection closed); return how many leases that touched. Nothing,
        while the worker's entry is online or draining: it came back, through another
        server sharing the store, after its old connection's end was recorded."""
        ...

    async def complete(self, lease: Lease, result: JSON) -> Job:
        """Mark the job succeeded with its result, clearing the error and traceback an
        earlier attempt left (its events keep them). StaleLease unless the token is current.
        A result given as rota.values.JsonText is stored as the text it holds."""
        ...

    async def fail(
        self, lease: Lease, *, error: str, traceback: str | None = None, retryable: bool = True
    ) -> Job:
        """Record a failed attempt. With attempts left (and retryable) the job goes back to
        pending with run_at = now + backoff and a `retrying` event; otherwise it becomes
        failed (the dead-letter state). StaleLease unless the token is current."""
        ...

    async def settle(
        self, outcomes: Sequence[Outcome], *, lines: Sequence[Event] = ()
    ) -> list[Settled]:
        """Record many attempts' outcomes, and append log lines, in one transaction; return
        what became of each outcome, in order.

        Each outcome is applied exactly as complete (a Success) or fail (a Failure) would
        apply it, with its event, and each is fenced by its own lease: a stale token or a
        result that is not JSON refuses only its own item (its error takes the item's place
        in the answer), never the others. Two outcomes for one lease: the first settles the
        job, the second is stale. The lines are appended as log() appends them. Everything
        that was applied is durable when the call returns.
        """
        ...

    async def release(self, lease: Lease) -> Job:
        """End a lease whose attempt's code has stopped on the worker, and return the job.

        A running job goes back unrun (a draining worker): pending, due now, and the attempt
        does not count (`released` event), though it keeps its number: prior_attempts goes up
        by one, so the next claim is numbered on and attempts_left is unchanged. A job
        cancelled while it ran stays cancelled and stops stopping (`stopped` event).
        StaleLease unless the token is held.
        """
        ...

    async def report_stopping(self, lease: Lease, message: str) -> Job:
        """Record that the worker asked the attempt's code to stop (a timeout, a drain) or
        that it has not stopped yet: stop_requested_at = now unless already set, and a
        `stopping` event with the message. The lease stays held. StaleLease unless held."""
        ...

    async def report_progress(
        self, lease: Lease, progress: float | None, message: str | None = None
    ) -> None:
        """Store the job's progress (0..1) and log the message. StaleLease unless current."""
        ...

    async def log(self, events: Sequence[Event]) -> None:
        """Append lines a task logged to the execution log."""
        ...

    async def reap(self) -> list[Job]:
        """Treat every expired lease of a running job as a failed attempt (retried with
        backoff, or failed after the last attempt), end every expired lease of a stopping
        cancelled job, and return the jobs it changed. Safe to run on every server.

        A lease that ran out before its job's run_at (rota.lifecycle.held_ahead: a device
        held it and went away) ends as a release: the claim does not count and the job
        keeps its time."""
        ...

    async def expire_overdue(self) -> list[Job]:
        """Move pending jobs whose deadline has passed to expired, and return them."""
        ...

    async def next_run_at(self, ahead_s: float = 0.0) -> datetime | None:
        """Return the earliest run_at among pending jobs not yet due at now + ahead_s, or
        None. (A dispatcher serving devices with a horizon wakes at that run_at - ahead_s.)"""
        ...

    async def wait_for_work(self, timeout_s: float) -> bool:
        """Wait up to timeout_s for a sign that another server made work due; return True if
        one came (the caller should then look for work), False when the time ran out.

        A store that only one server can use (SQLite) has no such signs and simply waits.
        """
        ...

    # --- workers -----------------------------------------------------------------------

    async def register_worker(
        self, info: WorkerInfo, claim: NameClaim | None = None
    ) -> NameHeld | None:
        """Insert or replace the worker's entry as online, with info.session_digest (its
        hello), and return None; or, with a `claim`, refuse when a live connection elsewhere
        holds the name (store/names.py, held_elsewhere), change nothing and return what
        holds it. The check and the write are one atomic step: of two claims racing for a
        name through two servers, exactly one succeeds.
        """
        ...

    async def worker_seen(
        self,
        name: str,
        *,
        running: int,
        state: str,
        resources: dict[str, Any],
        session_digest: str | None = None,
    ) -> None:
        """Record a heartbeat: last_seen_at = now, running count, state and resources; with
        a session_digest, only while the entry holds that session."""
        ...

    async def worker_gone(self, name: str, *, session_digest: str | None = None) -> bool:
        """Mark the worker offline and tell whether it was changed; with a session_digest,
        only while the entry holds that session (a later connection may hold it now)."""
        ...

    async def list_workers(self) -> list[WorkerInfo]:
        """Return every registered worker, online first, then by name."""
        ...

    # --- tokens ------------------------------------------------------------------------

    async def create_token(self, record: TokenRecord) -> None:
        """Keep a new token (its digest, never its secret)."""
        ...

    async def create_first_token(self, record: TokenRecord) -> bool:
        """Keep the token only if the store never had one, in one atomic step (servers
        starting at once on a new store make one first token between them); tell whether
        it was kept."""
        ...

    async def list_tokens(self) -> list[TokenRecord]:
        """Return every token ever made, revoked ones too, oldest first."""
        ...

    async def revoke_token(self, token_id: str) -> TokenRecord:
        """Revoke the token (at once; again is a no-op) and return it; TokenNotFound if
        no token has that id."""
        ...

    # --- retention ---------------------------------------------------------------------

    async def purge(self, finished_before: datetime) -> int:
        """Delete finished jobs (and their events) that finished before the given time and
        hold no lease, and offline workers not seen since then; return how many jobs went."""
        ...

    # --- schedules ---------------------------------------------------------------------

    async def create_schedule(self, spec: ScheduleSpec, next_fire_at: datetime | None) -> Schedule:
        """Insert a schedule with a new id at version 1; ScheduleExists if the name is taken."""
        ...

    async def get_schedule(self, ref: str) -> Schedule:
        """Return the schedule with that id, or else that name; ScheduleNotFound if none."""
        ...

    async def list_schedules(self) -> list[Schedule]:
        """Return every schedule, by name."""
        ...

    async def update_schedule(
        self,
        schedule_id: str,
        *,
        version: int,
        spec: ScheduleSpec,
        next_fire_at: datetime | None,
    ) -> Schedule:
        """Replace the spec and next fire time if the schedule is still at `version`, and
        raise the version. ScheduleChanged if it moved on, ScheduleNotFound if it is gone.

        When the new spec is paused, the occurrences already written ahead of their time
        (pending, run_at after now) are cancelled in the same transaction.
        """
        ...

    async def delete_schedule(self, schedule_id: str) -> Schedule:
        """Remove the schedule (ScheduleNotFound if none) and cancel its occurrences written
        ahead of their time; return it as it was. Its past jobs stay."""
        ...

    async def due_schedules(self, until: datetime, limit: int = 100) -> list[Schedule]:
        """Return the unpaused schedules whose next fire time, less the schedule's own
        `lookahead_s`, is at or before `until`, soonest fire time first, each with the
        state of its last occurrence's job."""
        ...

    async def fire_schedule(self, firing: Firing) -> list[Job] | None:
        """Write a scheduler round atomically: if the schedule is still at firing.version,
        advance it (next and last fire time, counts, version) and insert the occurrences'
        jobs, then return them; else change nothing and return None.

        So of several servers planning the same round, exactly one writes it. Each job's
        idempotency key names (schedule, fire time), so no occurrence is ever written twice.
        """
        ...
