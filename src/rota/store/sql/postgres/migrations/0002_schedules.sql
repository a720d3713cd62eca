-- Schedules: cron or interval definitions, and where each one is in time.
-- The definition (task, trigger, job options, policies) is one JSON document; the columns
-- beside it are those the scheduler queries or compares-and-sets.

CREATE TABLE schedules (
    id            text COLLATE "C" NOT NULL PRIMARY KEY,
    name          text COLLATE "C" NOT NULL UNIQUE,
    definition    json NOT NULL,
    paused        boolean NOT NULL DEFAULT false,
    next_fire_at  timestamptz,       -- the first occurrence not yet written; NULL: no more
    last_fire_at  timestamptz,
    last_job_id   text,
    fired_count   bigint NOT NULL DEFAULT 0,
    skipped_count bigint NOT NULL DEFAULT 0,
    version       bigint NOT NULL DEFAULT 1,
    created_at    timestamptz NOT NULL,
    updated_at    timestamptz NOT NULL
);

-- The scheduler's question: which active schedules fire soon.
CREATE INDEX schedules_due ON schedules (next_fire_at) WHERE NOT paused;
-- Occurrences written ahead of time, cancelled when their schedule is paused or removed.
CREATE INDEX jobs_pending_by_schedule ON jobs (schedule_id, run_at)
    WHERE state = 'pending' AND schedule_id IS NOT NULL;
