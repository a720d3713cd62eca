-- Schedules: cron or interval definitions, and where each one is in time.
-- The definition (task, trigger, job options, policies) is one JSON document; the columns
-- beside it are those the scheduler queries or compares-and-sets.

CREATE TABLE schedules (
    id            TEXT    NOT NULL PRIMARY KEY,
    name          TEXT    NOT NULL UNIQUE,
    definition    TEXT    NOT NULL,
    paused        INTEGER NOT NULL DEFAULT 0,
    next_fire_at  INTEGER,           -- the first occurrence not yet written; NULL: no more
    last_fire_at  INTEGER,
    last_job_id   TEXT,
    fired_count   INTEGER NOT NULL DEFAULT 0,
    skipped_count INTEGER NOT NULL DEFAULT 0,
    version       INTEGER NOT NULL DEFAULT 1,
    created_at    INTEGER NOT NULL,
    updated_at    INTEGER NOT NULL
);

-- The scheduler's question: which active schedules fire soon.
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE paused = 0;
-- Occurrences written ahead of time, cancelled when their schedule is paused or removed.
CREATE INDEX jobs_pending_by_schedule ON jobs (schedule_id, run_at)
    WHERE state = 'pending' AND schedule_id IS NOT NULL;
