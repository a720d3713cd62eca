-- What a job's row forgets when it runs again, and a worker's row when it reports again.
-- Triggers write both, in the same transaction as the change, whichever verb makes it.

-- The error and traceback of every failed attempt (the job's row holds only the last).
-- An attempt failed when a running job goes back to pending or to failed with an error,
-- other than by a release (which moves prior_attempts: its attempt does not count).
CREATE TABLE attempt_errors (
    job_id    TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt   INTEGER NOT NULL,
    at        INTEGER NOT NULL,
    error     TEXT,
    traceback TEXT,
    PRIMARY KEY (job_id, attempt)
);

CREATE TRIGGER jobs_attempt_failed
AFTER UPDATE OF state ON jobs
WHEN old.state = 'running' AND new.state IN ('pending', 'failed')
     AND new.error IS NOT NULL AND new.prior_attempts = old.prior_attempts
BEGIN
    INSERT OR REPLACE INTO attempt_errors (job_id, attempt, at, error, traceback)
    VALUES (new.id, old.attempt, new.updated_at, new.error, new.traceback);
END;

-- A worker's load and resources over time: at most one sample per 15 s, kept for an hour.
CREATE TABLE worker_samples (
    worker    TEXT    NOT NULL,
    at        INTEGER NOT NULL,
    running   INTEGER NOT NULL,
    resources TEXT    NOT NULL,
    PRIMARY KEY (worker, at)
);

CREATE TRIGGER workers_sample
AFTER UPDATE OF last_seen_at ON workers
WHEN new.state <> 'offline' AND new.resources <> '{}' AND new.last_seen_at IS NOT NULL
     AND NOT EXISTS (
         SELECT 1 FROM worker_samples
         WHERE worker = new.name AND at > new.last_seen_at - 15000000
     )
BEGIN
    INSERT OR REPLACE INTO worker_samples (worker, at, running, resources)
    VALUES (new.name, new.last_seen_at, new.running, new.resources);
    DELETE FROM worker_samples
    WHERE worker = new.name AND at <= new.last_seen_at - 3600000000;
END;

CREATE TRIGGER workers_forget_samples
AFTER DELETE ON workers
BEGIN
    DELETE FROM worker_samples WHERE worker = old.name;
END;

-- The occurrences of a schedule that were not run, and why (its overlap or misfire
-- policy), written with the scheduler round that skipped them; the newest 200 are kept.
CREATE TABLE schedule_skips (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    schedule_id TEXT    NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at     INTEGER NOT NULL,
    at          INTEGER NOT NULL,
    reason      TEXT    NOT NULL
);

CREATE INDEX schedule_skips_by_schedule ON schedule_skips (schedule_id, fire_at);
