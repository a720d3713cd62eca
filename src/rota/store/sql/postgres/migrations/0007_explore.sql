-- What a job's row forgets when it runs again, and a worker's row when it reports again.
-- Triggers write both, in the same transaction as the change, whichever verb makes it.
-- Function bodies are quoted with '...', not $$...$$, and triggers are made with CREATE OR
-- REPLACE (PostgreSQL 14+), so that rota.store.queries splits the file into its statements.

-- The error and traceback of every failed attempt (the job's row holds only the last).
-- An attempt failed when a running job goes back to pending or to failed with an error,
-- other than by a release (which moves prior_attempts: its attempt does not count).
CREATE TABLE attempt_errors (
    job_id    text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt   integer NOT NULL,
    at        timestamptz NOT NULL,
    error     text,
    traceback text,
    PRIMARY KEY (job_id, attempt)
);

CREATE FUNCTION record_attempt_error() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    INSERT INTO attempt_errors (job_id, attempt, at, error, traceback)
    VALUES (NEW.id, OLD.attempt, NEW.updated_at, NEW.error, NEW.traceback)
    ON CONFLICT (job_id, attempt) DO UPDATE
    SET at = excluded.at, error = excluded.error, traceback = excluded.traceback;
    RETURN NULL;
END';

CREATE OR REPLACE TRIGGER jobs_attempt_failed
AFTER UPDATE OF state ON jobs
FOR EACH ROW
WHEN (OLD.state = 'running' AND NEW.state IN ('pending', 'failed')
      AND NEW.error IS NOT NULL AND NEW.prior_attempts = OLD.prior_attempts)
EXECUTE FUNCTION record_attempt_error();

-- A worker's load and resources over time: at most one sample per 15 s, kept for an hour.
CREATE TABLE worker_samples (
    worker    text COLLATE "C" NOT NULL,
    at        timestamptz NOT NULL,
    running   integer NOT NULL,
    resources json NOT NULL,
    PRIMARY KEY (worker, at)
);

CREATE FUNCTION record_worker_sample() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    IF NEW.state = ''offline'' OR NEW.last_seen_at IS NULL
       OR NEW.resources::text = ''{}'' OR EXISTS (
           SELECT 1 FROM worker_samples
           WHERE worker = NEW.name AND at > NEW.last_seen_at - interval ''15 seconds'') THEN
        RETURN NULL;
    END IF;
    INSERT INTO worker_samples (worker, at, running, resources)
    VALUES (NEW.name, NEW.last_seen_at, NEW.running, NEW.resources)
    ON CONFLICT (worker, at) DO NOTHING;
    DELETE FROM worker_samples
    WHERE worker = NEW.name AND at <= NEW.last_seen_at - interval ''1 hour'';
    RETURN NULL;
END';

CREATE OR REPLACE TRIGGER workers_sample
AFTER INSERT OR UPDATE OF last_seen_at ON workers
FOR EACH ROW EXECUTE FUNCTION record_worker_sample();

CREATE FUNCTION forget_worker_samples() RETURNS trigger LANGUAGE plpgsql AS '
BEGIN
    DELETE FROM worker_samples WHERE worker = OLD.name;
    RETURN NULL;
END';

CREATE OR REPLACE TRIGGER workers_forget_samples
AFTER DELETE ON workers
FOR EACH ROW EXECUTE FUNCTION forget_worker_samples();

-- The occurrences of a schedule that were not run, and why (its overlap or misfire
-- policy), written with the scheduler round that skipped them; the newest 200 are kept.
CREATE TABLE schedule_skips (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    schedule_id text COLLATE "C" NOT NULL REFERENCES schedules (id) ON DELETE CASCADE,
    fire_at     timestamptz NOT NULL,
    at          timestamptz NOT NULL,
    reason      text NOT NULL
);

CREATE INDEX schedule_skips_by_schedule ON schedule_skips (schedule_id, fire_at);
