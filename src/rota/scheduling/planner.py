"""Plan a scheduler round for one schedule: which occurrences become jobs, and what is next.

Pure: time and randomness are passed in. The store then writes the plan atomically, only if
the schedule has not changed since it was read (see Store.fire_schedule).
"""

from __future__ import annotations

import random
from collections import deque
from datetime import datetime, timedelta
from typing import Final

from rota.jobs import JobState
from rota.scheduling.model import Firing, Misfire, Overlap, Schedule, Skip
from rota.scheduling.triggers import Trigger

MAX_AHEAD: Final = 100
"""At most this many on-time occurrences are written in one round."""
MAX_WALK: Final = 200_000
"""A bound on the fire times examined to find missed ones (an expression firing every
second, down for more than two days, is searched in windows rather than walked)."""
MAX_SKIPS_SAID: Final = 20
"""At most this many skipped occurrences of one round are recorded one by one."""
_ONE_MICROSECOND: Final = timedelta(microseconds=1)
_ACTIVE: Final = frozenset({JobState.PENDING, JobState.RUNNING})


def first_fire_at(
    trigger: Trigger, now: datetime, after: datetime | None = None
) -> datetime | None:
    """Return the first fire time strictly after now (and after `after`, the last written)."""
    return trigger.next_after(now if after is None else max(now, after))


def horizon_s(schedule: Schedule, lookahead_s: float) -> float:
    """Return how far ahead of its fire time an occurrence of this schedule is written:
    the scheduler's look-ahead, or the schedule's own `lookahead_s` when that is longer
    (reminders reach devices minutes ahead).

    Overlap `skip` decides at the fire time whether the previous run is still going, so
    its occurrences are written on time, not ahead (a spec refuses lookahead_s with it).
    """
    if schedule.spec.overlap is Overlap.SKIP:
        return 0.0
    return max(lookahead_s, schedule.spec.lookahead_s)


def plan(
    schedule: Schedule,
    now: datetime,
    *,
    lookahead_s: float,
    grace_s: float,
    rng: random.Random,
) -> Firing | None:
    """Return what to write for the schedule at `now`, or None when nothing is due yet.

    Occurrences up to now + lookahead are written (ahead of time, with run_at = their
    fire time, so the dispatcher starts them as punctually as delayed jobs). Fire times
    older than now - grace_s were missed (the servers were down) and follow the misfire
    policy.
    """
    spec = schedule.spec
    first = schedule.next_fire_at
    if spec.paused or first is None:
        return None
    horizon = now + timedelta(seconds=horizon_s(schedule, lookahead_s))
    if first > horizon:
        return None
    trigger = spec.trigger()
    cutoff = now - timedelta(seconds=grace_s)
    missed: list[datetime] = []
    upcoming: datetime | None = first
    if first < cutoff:
        wanted = {Misfire.SKIP: 0, Misfire.ONCE: 1, Misfire.ALL: spec.misfire_limit}[spec.misfire]
        missed = latest_fire_times(trigger, first, cutoff, wanted)
        upcoming = trigger.next_after(cutoff - _ONE_MICROSECOND)
    on_time: list[datetime] = []
    while upcoming is not None and upcoming <= horizon and len(on_time) < MAX_AHEAD:
        on_time.append(upcoming)
        upcoming = trigger.next_after(upcoming)
    occurrences = [*missed, *on_time]
    skips: list[Skip] = []
    if first < cutoff and first not in missed:
        kept = f"ran the latest {len(missed)}" if missed else "ran none of them"
        skips.append(
            Skip(
                fire_at=first,
                reason=f"missed: no server fired it within {grace_s:g} s of its time "
                f"(misfire={spec.misfire}: of the occurrences missed until "
                f"{cutoff.isoformat()}, it {kept})",
            )
        )
    skipped = 0
    if spec.overlap is Overlap.SKIP and occurrences:
        # One run at a time: at most the latest occurrence, and none while the last one lives.
        # A cancelled occurrence whose code is still stopping still runs.
        live = schedule.last_job_state in _ACTIVE or schedule.last_job_stopping
        keep = 0 if live else 1
        skipped = len(occurrences) - keep
        dropped = occurrences[: len(occurrences) - keep]
        why = (
            f"overlap=skip: its last run (job {schedule.last_job_id}) was still "
            f"{'stopping' if schedule.last_job_stopping else schedule.last_job_state}"
            if live
            else "overlap=skip: a later occurrence was due in the same round"
        )
        skips += [Skip(fire_at=moment, reason=why) for moment in dropped[-MAX_SKIPS_SAID:]]
        occurrences = occurrences[len(occurrences) - keep :]
    jobs = [
        spec.job_spec(schedule.id, fire_at, fire_at + _jitter(spec.jitter_s, rng))
        for fire_at in occurrences
    ]
    handled = missed + on_time
    last = handled[-1] if handled else schedule.last_fire_at
    return Firing(
        schedule_id=schedule.id,
        version=schedule.version,
        next_fire_at=upcoming,
        last_fire_at=last,
        jobs=jobs,
        skipped=skipped,
        skips=skips,
    )


def latest_fire_times(
    trigger: Trigger, start: datetime, cutoff: datetime, count: int
) -> list[datetime]:
    """Return the latest `count` fire times in [start, cutoff), oldest first.

    `start` must be a fire time. Looks back from the cutoff in widening windows, so the cost
    follows `count`, not the length of the downtime.
    """
    if count <= 0 or start >= cutoff:
        return []
    span_s = (cutoff - start).total_seconds()
    window_s = 64.0
    while window_s < span_s:
        first = trigger.next_after(cutoff - timedelta(seconds=window_s) - _ONE_MICROSECOND)
        found = _walk(trigger, first, cutoff, count)
        if len(found) >= count:
            return found
        window_s *= 16
    return _walk(trigger, start, cutoff, count)


def _walk(trigger: Trigger, first: datetime | None, cutoff: datetime, count: int) -> list[datetime]:
    kept: deque[datetime] = deque(maxlen=count)
    moment = first
    for _ in range(MAX_WALK):
        if moment is None or moment >= cutoff:
            break
        kept.append(moment)
        moment = trigger.next_after(moment)
    return list(kept)


def _jitter(jitter_s: float, rng: random.Random) -> timedelta:
    return timedelta(seconds=rng.uniform(0.0, jitter_s)) if jitter_s > 0 else timedelta(0)
