-- The first schema: jobs, their execution log, and the worker registry.
-- Tables are created in the store's schema (the connection's search_path). Identifiers and
-- names that are sorted use the "C" collation, so order is byte order as in SQLite.

CREATE TABLE jobs (
    -- Submission order across every server; ids from two servers may interleave.
    seq              bigint GENERATED ALWAYS AS IDENTITY,
    id               text COLLATE "C" NOT NULL PRIMARY KEY,
    task             text NOT NULL,
    args             json NOT NULL,
    kwargs           json NOT NULL,
    queue            text COLLATE "C" NOT NULL,
    priority         bigint NOT NULL,
    state            text NOT NULL CHECK (state IN
                         ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
    run_at           timestamptz NOT NULL,
    target           text,
    max_attempts     integer NOT NULL CHECK (max_attempts >= 1),
    backoff          json NOT NULL,
    timeout_s        double precision,
    deadline_at      timestamptz,
    idempotency_key  text UNIQUE,
    schedule_id      text,
    attempt          integer NOT NULL DEFAULT 0,
    lease_token      text,
    lease_expires_at timestamptz,
    worker           text,
    result           json,
    error            text,
    traceback        text,
    progress         double precision,
    created_at       timestamptz NOT NULL,
    updated_at       timestamptz NOT NULL,
    started_at       timestamptz,
    finished_at      timestamptz
);

-- Claiming walks pending jobs in dispatch order; finished rows are not in the index at all.
CREATE INDEX jobs_claim ON jobs (priority DESC, run_at, seq) WHERE state = 'pending';
-- The dispatcher's next wake-up.
CREATE INDEX jobs_pending_run_at ON jobs (run_at) WHERE state = 'pending';
-- The reaper.
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'running';
-- Fencing and heartbeats look leases up by token.
CREATE UNIQUE INDEX jobs_lease_token ON jobs (lease_token) WHERE lease_token IS NOT NULL;
-- Deadlines of jobs that have not started.
CREATE INDEX jobs_deadline ON jobs (deadline_at)
    WHERE state = 'pending' AND deadline_at IS NOT NULL;
-- Retention.
CREATE INDEX jobs_finished ON jobs (finished_at) WHERE finished_at IS NOT NULL;
-- Listing, newest first, by each filter.
CREATE INDEX jobs_by_state ON jobs (state, id);
CREATE INDEX jobs_by_queue ON jobs (queue, id);
CREATE INDEX jobs_by_task ON jobs (task, id);
CREATE INDEX jobs_by_worker ON jobs (worker, id) WHERE worker IS NOT NULL;

CREATE TABLE events (
    id      bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,  -- never reused: a cursor
    job_id  text COLLATE "C" NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt integer NOT NULL,
    at      timestamptz NOT NULL,
    kind    text NOT NULL,
    worker  text,
    message text
);

CREATE INDEX events_by_job ON events (job_id, id);

CREATE TABLE workers (
    name         text COLLATE "C" NOT NULL PRIMARY KEY,
    queues       text[] NOT NULL,
    tags         text[] NOT NULL,
    tasks        text[] NOT NULL,
    capacity     integer NOT NULL,
    running      integer NOT NULL DEFAULT 0,
    state        text NOT NULL,
    server       text,
    connected_at timestamptz,
    last_seen_at timestamptz,
    resources    json NOT NULL DEFAULT '{}'
);
