-- Named queries of the SQLite store. Moments are INTEGER microseconds since the epoch (UTC);
-- list parameters arrive as JSON arrays and are read with json_each.

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (
    version    INTEGER NOT NULL PRIMARY KEY,
    applied_at INTEGER NOT NULL
);

-- name: schema_versions
SELECT version FROM schema_version ORDER BY version;

-- name: record_migration
INSERT INTO schema_version (version, applied_at) VALUES (:version, :applied_at);

-- name: last_job_id
SELECT max(id) AS id FROM jobs;

-- name: insert_job
-- Parameters by position (binding by name costs more per row of a bulk), in the order of
-- sqlite_rows.insert_job_values: the spec_params keys of the columns, then :now twice.
INSERT INTO jobs (
    id, task, args, kwargs, queue, priority, state, run_at, target, max_attempts, backoff,
    timeout_s, deadline_at, idempotency_key, schedule_id, fingerprint, attempt, created_at,
    updated_at
) VALUES (?, ?, ?, ?, ?, ?, 'pending', ?, ?, ?, ?, ?, ?, ?, ?, ?, 0, ?, ?);

-- name: get_jobs_by_keys
SELECT * FROM jobs WHERE idempotency_key IN (SELECT value FROM json_each(:keys));

-- name: insert_event
INSERT INTO events (job_id, attempt, at, kind, worker, message)
VALUES (:job_id, :attempt, :at, :kind, :worker, :message);

-- name: insert_submitted_events
-- The "submitted" event of each new job; :ids is a JSON array of their ids, in order.
INSERT INTO events (job_id, attempt, at, kind, worker, message)
SELECT value, 0, :at, 'submitted', NULL, NULL FROM json_each(:ids) ORDER BY key;

-- name: insert_log_event
-- Lines of a job that retention already deleted are dropped.
INSERT INTO events (job_id, attempt, at, kind, worker, message)
SELECT :job_id, :attempt, :at, :kind, :worker, :message
WHERE EXISTS (SELECT 1 FROM jobs WHERE id = :job_id);

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: get_job_by_key
SELECT * FROM jobs WHERE idempotency_key = :key;

-- name: get_leased_job
SELECT * FROM jobs WHERE id = :id AND state = 'running' AND lease_token = :token;

-- name: acquire
-- The best :limit candidates of each queue come from the claim index in order (so the
-- cost does not grow with the backlog); the best :limit of those are claimed.
UPDATE jobs
SET state = 'running',
    attempt = attempt + 1,
    lease_token = new_lease_token(),
    lease_expires_at = :lease_expires_at,
    worker = :worker,
    -- A job claimed ahead (within the worker's lead) starts at its run_at, not before.
    started_at = max(:now, run_at),
    progress = NULL, progress_message = NULL,
    stop_requested_at = NULL,
    updated_at = :now
WHERE id IN (
    SELECT chosen.id
    FROM json_each(:queues) AS wanted
    JOIN jobs AS chosen ON chosen.id IN (
        SELECT id FROM jobs INDEXED BY jobs_claim
        WHERE state = 'pending'
          AND queue = wanted.value
          AND (run_at <= :lead_until OR (target IS NOT NULL AND run_at <= :until))
          AND (:tasks IS NULL OR task IN (SELECT value FROM json_each(:tasks)))
          AND ((:open AND (target IS NULL OR target = :worker))
               OR target IN (SELECT value FROM json_each(:tags)))
          AND (deadline_at IS NULL OR deadline_at > :now)
        ORDER BY priority DESC, run_at, id
        LIMIT :limit
    )
    ORDER BY chosen.priority DESC, chosen.run_at, chosen.id
    LIMIT :limit
)
RETURNING *;

-- name: extend
-- A lease is held by a running job, or by a job cancelled while it ran whose code is still
-- stopping; both are extended, and the state tells the worker which must stop.
UPDATE jobs INDEXED BY jobs_lease_token
SET lease_expires_at = :lease_expires_at, updated_at = :now
WHERE lease_token IN (SELECT value FROM json_each(:tokens))
  AND worker = :worker
RETURNING lease_token, state;

-- name: expire_leases_of
-- Not while the worker's entry is online or draining: it came back (through another
-- server sharing the store) and renewed its leases since its old connection ended.
UPDATE jobs INDEXED BY jobs_leased_by_worker
SET lease_expires_at = min(lease_expires_at, :lease_expires_at), updated_at = :now
WHERE worker = :worker AND lease_token IS NOT NULL
  AND NOT EXISTS (SELECT 1 FROM workers WHERE name = :worker AND state <> 'offline');

-- name: complete
-- An earlier attempt's error and traceback go: the job succeeded (its events keep them).
UPDATE jobs
SET state = 'succeeded',
    result = :result,
    error = NULL,
    traceback = NULL,
    progress = 1.0,
    lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    finished_at = :now,
    updated_at = :now
WHERE id = :id AND state = 'running' AND lease_token = :token
RETURNING *;

-- name: complete_many
-- complete for many leases at once: :done is a JSON array of {id, token, result}.
UPDATE jobs
SET state = 'succeeded',
    result = json_extract(done.value, '$.result'),
    error = NULL,
    traceback = NULL,
    progress = 1.0,
    lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    finished_at = :now,
    updated_at = :now
FROM json_each(:done) AS done
WHERE jobs.id = json_extract(done.value, '$.id')
  AND jobs.state = 'running'
  AND jobs.lease_token = json_extract(done.value, '$.token')
RETURNING *;

-- name: retry_later
-- A failed or lost attempt with attempts left: pending again at the run_at the lifecycle
-- rules chose (rota.lifecycle), fenced by the lease token.
UPDATE jobs
SET state = 'pending',
    run_at = :run_at,
    error = :error,
    traceback = :traceback,
    lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    updated_at = :now
WHERE id = :id AND state = 'running' AND lease_token = :token
RETURNING *;

-- name: fail_final
UPDATE jobs
SET state = 'failed',
    error = :error,
    traceback = :traceback,
    lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    finished_at = :now,
    updated_at = :now
WHERE id = :id AND state = 'running' AND lease_token = :token
RETURNING *;

-- name: release
-- The claim does not count, yet its run keeps its number (its code may have run for a while,
-- as in a drain): the round's start moves up by one, so attempts_left is unchanged and the
-- next claim gets a number of its own. A job given back before its run_at (a device's
-- reminder) keeps its time.
UPDATE jobs
SET state = 'pending',
    run_at = max(run_at, :now),
    prior_attempts = prior_attempts + 1,
    lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    progress = NULL, progress_message = NULL,
    updated_at = :now
WHERE id = :id AND state = 'running' AND lease_token = :token
RETURNING *;

-- name: end_stopped_lease
-- The code of an attempt cancelled while it ran has stopped (or its lease ran out): the
-- lease ends and the job, cancelled already, may be retried.
UPDATE jobs
SET lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    updated_at = :now
WHERE id = :id AND state = 'cancelled' AND lease_token = :token
RETURNING *;

-- name: report_stopping
UPDATE jobs
SET stop_requested_at = coalesce(stop_requested_at, :now), updated_at = :now
WHERE id = :id AND state IN ('running', 'cancelled') AND lease_token = :token
RETURNING *;

-- name: report_progress
UPDATE jobs
SET progress = :progress, progress_message = :note, updated_at = :now
WHERE id = :id AND state = 'running' AND lease_token = :token
RETURNING attempt, worker;

-- name: expired_leases
SELECT * FROM jobs INDEXED BY jobs_lease_expiry
WHERE lease_token IS NOT NULL AND lease_expires_at <= :now
ORDER BY lease_expires_at, id;

-- name: expire_overdue
UPDATE jobs INDEXED BY jobs_deadline
SET state = 'expired', finished_at = :now, updated_at = :now
WHERE state = 'pending' AND deadline_at IS NOT NULL AND deadline_at <= :now
RETURNING *;

-- name: cancel
-- A running job keeps its lease: its worker holds it until the attempt's code stopped.
UPDATE jobs
SET state = 'cancelled',
    stop_requested_at = CASE WHEN lease_token IS NULL THEN NULL ELSE :now END,
    finished_at = :now,
    updated_at = :now
WHERE id = :id AND state IN ('pending', 'running')
RETURNING *;

-- name: retry
-- A new round of max_attempts claims; attempts keep counting, so each keeps its number.
-- New arguments, when given, replace the old ones in the same statement.
UPDATE jobs
SET state = 'pending',
    run_at = :now,
    args = coalesce(:args, args),
    kwargs = coalesce(:kwargs, kwargs),
    prior_attempts = attempt,
    result = NULL,
    error = NULL,
    traceback = NULL,
    progress = NULL, progress_message = NULL,
    worker = NULL,
    lease_token = NULL,
    lease_expires_at = NULL,
    started_at = NULL,
    finished_at = NULL,
    updated_at = :now
WHERE id = :id AND state IN ('failed', 'cancelled', 'expired') AND lease_token IS NULL
RETURNING *;

-- name: update_job
-- A job held ahead of its run_at (rota.lifecycle.held_ahead) goes back to pending with the
-- changes, its lease ended as a release ends it: the claim does not count; only while its
-- run_at is at least :edit_margin_us away (rota.lifecycle.EDIT_MARGIN_S).
UPDATE jobs
SET run_at = coalesce(:run_at, run_at),
    priority = coalesce(:priority, priority),
    args = coalesce(:args, args),
    kwargs = coalesce(:kwargs, kwargs),
    prior_attempts = prior_attempts + (state = 'running'),
    progress = CASE WHEN state = 'running' THEN NULL ELSE progress END,
    progress_message = CASE WHEN state = 'running' THEN NULL ELSE progress_message END,
    state = 'pending',
    lease_token = NULL,
    lease_expires_at = NULL,
    updated_at = :now
WHERE id = :id
  AND (state = 'pending'
       OR (state = 'running' AND lease_token IS NOT NULL AND stop_requested_at IS NULL
           AND run_at > :now + :edit_margin_us))
RETURNING *;

-- name: list_jobs
-- Each list_jobs_* query is driven by one index; the other filters are checked per row.
-- :before is the cursor (an id), or a text greater than every id on the first page.
SELECT * FROM jobs
WHERE id < :before
  AND (:state IS NULL OR state = :state)
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
  AND (:worker IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_state
SELECT * FROM jobs INDEXED BY jobs_by_state
WHERE state = :state AND id < :before
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
  AND (:worker IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_queue
SELECT * FROM jobs INDEXED BY jobs_by_queue
WHERE queue = :queue AND id < :before
  AND (:state IS NULL OR state = :state)
  AND (:task IS NULL OR task = :task)
  AND (:worker IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_task
SELECT * FROM jobs INDEXED BY jobs_by_task
WHERE task = :task AND id < :before
  AND (:state IS NULL OR state = :state)
  AND (:queue IS NULL OR queue = :queue)
  AND (:worker IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_worker
SELECT * FROM jobs INDEXED BY jobs_by_worker
WHERE worker = :worker AND id < :before
  AND (:state IS NULL OR state = :state)
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
ORDER BY id DESC
LIMIT :limit;

-- name: search_jobs
SELECT * FROM jobs
WHERE (id = :search OR idempotency_key = :search) AND id < :before
  AND (:state IS NULL OR state = :state)
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR task = :task)
  AND (:worker IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: job_exists
SELECT 1 FROM jobs WHERE id = :id;

-- name: list_events
SELECT * FROM events WHERE job_id = :job_id AND id > :after_id ORDER BY id LIMIT :limit;

-- name: queue_stats_pending
-- Reads the claim index alone, in queue order.
SELECT queue,
       count(*) AS pending,
       sum(run_at <= :now) AS due,
       min(CASE WHEN run_at <= :now THEN run_at END) AS oldest_due_at
FROM jobs INDEXED BY jobs_claim
WHERE state = 'pending'
GROUP BY queue;

-- name: queue_stats_running
SELECT queue, count(*) AS running
FROM jobs INDEXED BY jobs_running_by_worker
WHERE state = 'running'
GROUP BY queue;

-- name: known_tasks
SELECT DISTINCT task.value AS name FROM workers, json_each(workers.tasks) AS task;

-- name: next_run_at
SELECT min(run_at) AS run_at FROM jobs INDEXED BY jobs_pending_run_at WHERE state = 'pending' AND run_at > :now;

-- name: purge_jobs
DELETE FROM jobs INDEXED BY jobs_finished
WHERE finished_at < :before AND state IN ('succeeded', 'failed', 'cancelled', 'expired')
  AND lease_token IS NULL;

-- name: purge_workers
DELETE FROM workers WHERE state = 'offline' AND coalesce(last_seen_at, 0) < :before;

-- name: register_worker
INSERT INTO workers (
    name, queues, tags, tasks, capacity, running, state, server, connected_at, last_seen_at,
    resources, session_digest
) VALUES (
    :name, :queues, :tags, :tasks, :capacity, :running, 'online', :server, :connected_at, :now,
    :resources, :session_digest
)
ON CONFLICT (name) DO UPDATE SET
    queues = excluded.queues,
    tags = excluded.tags,
    tasks = excluded.tasks,
    capacity = excluded.capacity,
    running = excluded.running,
    state = excluded.state,
    server = excluded.server,
    connected_at = excluded.connected_at,
    last_seen_at = excluded.last_seen_at,
    resources = excluded.resources,
    session_digest = excluded.session_digest;

-- name: get_worker
SELECT * FROM workers WHERE name = :name;

-- name: worker_seen
UPDATE workers
SET last_seen_at = :now, running = :running, state = :state, resources = :resources
WHERE name = :name AND (:session_digest IS NULL OR session_digest = :session_digest);

-- name: worker_gone
UPDATE workers SET state = 'offline', running = 0, last_seen_at = :now
WHERE name = :name AND (:session_digest IS NULL OR session_digest = :session_digest);

-- name: list_workers
SELECT * FROM workers
ORDER BY CASE state WHEN 'online' THEN 0 WHEN 'draining' THEN 1 ELSE 2 END, name;

-- name: create_token
INSERT INTO tokens (id, name, role, digest, binding, created_at)
VALUES (:id, :name, :role, :digest, :binding, :now);

-- name: create_first_token
INSERT INTO tokens (id, name, role, digest, binding, created_at)
SELECT :id, :name, :role, :digest, :binding, :now
WHERE NOT EXISTS (SELECT 1 FROM tokens)
RETURNING id;

-- name: list_tokens
SELECT * FROM tokens ORDER BY created_at, id;

-- name: revoke_token
UPDATE tokens SET revoked_at = coalesce(revoked_at, :now) WHERE id = :id;

-- name: get_token
SELECT * FROM tokens WHERE id = :id;
