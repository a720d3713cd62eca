-- The first schema: jobs, their execution log, and the worker registry.
-- Every moment is INTEGER microseconds since the Unix epoch (UTC); JSON values are TEXT.

CREATE TABLE jobs (
    id               TEXT    NOT NULL PRIMARY KEY,  -- UUIDv7, increasing in submission order
    task             TEXT    NOT NULL,
    args             TEXT    NOT NULL,
    kwargs           TEXT    NOT NULL,
    queue            TEXT    NOT NULL,
    priority         INTEGER NOT NULL,
    state            TEXT    NOT NULL CHECK (state IN
                         ('pending', 'running', 'succeeded', 'failed', 'cancelled', 'expired')),
    run_at           INTEGER NOT NULL,
    target           TEXT,
    max_attempts     INTEGER NOT NULL CHECK (max_attempts >= 1),
    backoff          TEXT    NOT NULL,
    timeout_s        REAL,
    deadline_at      INTEGER,
    idempotency_key  TEXT    UNIQUE,
    schedule_id      TEXT,
    attempt          INTEGER NOT NULL DEFAULT 0,
    lease_token      TEXT,
    lease_expires_at INTEGER,
    worker           TEXT,
    result           TEXT,
    error            TEXT,
    traceback        TEXT,
    progress         REAL,
    created_at       INTEGER NOT NULL,
    updated_at       INTEGER NOT NULL,
    started_at       INTEGER,
    finished_at      INTEGER
);

-- Claiming: due pending jobs of a queue in dispatch order.
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, id) WHERE state = 'pending';
-- The dispatcher's next wake-up.
CREATE INDEX jobs_pending_run_at ON jobs (run_at) WHERE state = 'pending';
-- The reaper.
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE state = 'running';
-- A worker's running jobs (its connection closed).
CREATE INDEX jobs_running_by_worker ON jobs (worker) WHERE state = 'running';
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
    id      INTEGER PRIMARY KEY AUTOINCREMENT,  -- never reused, so it can serve as a cursor
    job_id  TEXT    NOT NULL REFERENCES jobs (id) ON DELETE CASCADE,
    attempt INTEGER NOT NULL,
    at      INTEGER NOT NULL,
    kind    TEXT    NOT NULL,
    worker  TEXT,
    message TEXT
);

CREATE INDEX events_by_job ON events (job_id, id);

CREATE TABLE workers (
    name         TEXT    NOT NULL PRIMARY KEY,
    queues       TEXT    NOT NULL,
    tags         TEXT    NOT NULL,
    tasks        TEXT    NOT NULL,
    capacity     INTEGER NOT NULL,
    running      INTEGER NOT NULL DEFAULT 0,
    state        TEXT    NOT NULL,
    server       TEXT,
    connected_at INTEGER,
    last_seen_at INTEGER,
    resources    TEXT    NOT NULL DEFAULT '{}'
);
