-- Named queries of the PostgreSQL store. Parameters are written :name and bound by name.
--
-- The clock: every statement reads "now" as coalesce(:now, now()). In production :now is
-- NULL, so now is the database's transaction time: the cluster's one clock, the same for
-- every server. A store built with a test clock passes that clock's moment instead.
--
-- A verb that changes jobs writes its events in the same statement (a data-modifying CTE
-- always runs, referenced or not), so a change and its log commit together.

-- name: advisory_lock
-- Serialises migrations of one schema across every server that opens it at once.
SELECT pg_advisory_xact_lock(hashtext('rota.migrate'), hashtext(:schema::text));

-- name: create_schema_statement
-- format(%I) quotes the schema name on the server, so no SQL is assembled in Python.
SELECT format('CREATE SCHEMA IF NOT EXISTS %I', :schema::text);

-- name: create_schema_version
CREATE TABLE IF NOT EXISTS schema_version (
    version    integer NOT NULL PRIMARY KEY,
    applied_at timestamptz NOT NULL DEFAULT now()
);

-- name: schema_versions
SELECT version FROM schema_version ORDER BY version;

-- name: record_migration
INSERT INTO schema_version (version) VALUES (:version);

-- name: last_job_id
SELECT max(id) AS id FROM jobs;

-- name: now
SELECT coalesce(:now, clock_timestamp());

-- name: notify
SELECT pg_notify(:channel::text, :payload::text);

-- name: submit
-- One statement for the whole batch: all or none. A key already taken leaves its job as it
-- is (the caller then reads it); a key raced by another server waits for that commit.
WITH spec AS (
    SELECT * FROM unnest(
        :ids::text[], :tasks::text[], :args::text[], :kwargs::text[], :queues::text[],
        :priorities::bigint[], :run_ats::timestamptz[], :targets::text[],
        :max_attempts::integer[], :backoffs::text[], :timeouts::double precision[],
        :deadlines::timestamptz[], :keys::text[], :schedule_ids::text[], :fingerprints::text[]
    ) WITH ORDINALITY AS s (
        id, task, args, kwargs, queue, priority, run_at, target, max_attempts, backoff,
        timeout_s, deadline_at, idempotency_key, schedule_id, fingerprint, position
    )
), inserted AS (
    INSERT INTO jobs (
        id, task, args, kwargs, queue, priority, state, run_at, target, max_attempts,
        backoff, timeout_s, deadline_at, idempotency_key, schedule_id, fingerprint, attempt,
        created_at, updated_at
    )
    SELECT id, task, args::json, kwargs::json, queue, priority, 'pending',
           coalesce(run_at, coalesce(:now, now())), target, max_attempts, backoff::json,
           timeout_s, deadline_at, idempotency_key, schedule_id, fingerprint, 0,
           coalesce(:now, now()), coalesce(:now, now())
    FROM spec
    ORDER BY position
    ON CONFLICT (idempotency_key) DO NOTHING
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind)
    SELECT id, 0, created_at, 'submitted' FROM inserted ORDER BY seq
), woken AS (
    -- One wake-up per queue, not per job (a bulk submit of 1,000 jobs sends one).
    SELECT count(pg_notify(:channel::text, queue)) AS queues
    FROM (SELECT DISTINCT queue FROM inserted) AS touched
)
SELECT inserted.* FROM inserted, woken;

-- name: get_jobs_by_key
SELECT * FROM jobs WHERE idempotency_key = ANY(:keys::text[]);

-- name: get_job
SELECT * FROM jobs WHERE id = :id;

-- name: get_job_for_update
SELECT * FROM jobs WHERE id = :id AND state = 'running' AND lease_token = :token FOR UPDATE;

-- name: acquire
-- The best :limit candidates of each queue come from the claim index in order (so the cost
-- does not grow with the backlog of other queues, nor with finished jobs), and the best
-- :limit of those are claimed. SKIP LOCKED: servers claiming at once take different rows
-- and never wait. :queues holds no duplicates.
WITH candidates AS MATERIALIZED (
    SELECT candidate.id, candidate.priority, candidate.run_at, candidate.seq, candidate.ctid
    FROM unnest(:queues::text[]) AS wanted (queue)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at, seq, ctid FROM jobs
        WHERE state = 'pending'
          AND queue = wanted.queue
          AND (run_at <= coalesce(:now, now()) + make_interval(secs => :lead_s)
               OR (target IS NOT NULL
                   AND run_at <= coalesce(:now, now()) + make_interval(secs => :horizon_s)))
          AND (:tasks::text[] IS NULL OR task = ANY(:tasks::text[]))
          AND ((:open::boolean AND (target IS NULL OR target = :worker::text))
               OR target = ANY(:tags::text[]))
          AND (deadline_at IS NULL OR deadline_at > coalesce(:now, now()))
        ORDER BY priority DESC, run_at, seq
        LIMIT :limit
        FOR UPDATE SKIP LOCKED
    ) AS candidate
), picked AS MATERIALIZED (
    SELECT id, ctid FROM candidates ORDER BY priority DESC, run_at, seq LIMIT :limit
), claimed AS (
    UPDATE jobs
    SET state = 'running',
        attempt = attempt + 1,
        lease_token = replace(gen_random_uuid()::text, '-', ''),
        lease_expires_at = coalesce(:now, now()) + make_interval(secs => :lease_s),
        worker = :worker::text,
        -- A job claimed ahead (within the worker's lead) starts at its run_at, not before.
        started_at = greatest(coalesce(:now, now()), jobs.run_at),
        progress = NULL, progress_message = NULL,
        stop_requested_at = NULL,
        updated_at = coalesce(:now, now())
    FROM picked
    -- Found where they were locked, as in acquire_many.
    WHERE jobs.ctid = ANY(ARRAY(SELECT ctid FROM picked)) AND jobs.id = picked.id
    RETURNING jobs.*
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    -- The words of rota.lifecycle.started_message, which the contract tests compare.
    SELECT id, attempt, updated_at, 'started', worker,
           'attempt ' || attempt || ' of ' || (prior_attempts + max_attempts)
           || CASE WHEN started_at > updated_at
                   THEN '; handed over ahead, its code starts at its run_at' ELSE '' END
    FROM claimed
    ORDER BY priority DESC, run_at, seq
)
SELECT * FROM claimed ORDER BY priority DESC, run_at, seq;

-- name: extend
-- A lease is held by a running job, or by a job cancelled while it ran whose code is still
-- stopping; both are extended, and the state tells the worker which must stop.
UPDATE jobs
SET lease_expires_at = coalesce(:now, now()) + make_interval(secs => :lease_s),
    updated_at = coalesce(:now, now())
WHERE lease_token = ANY(:tokens::text[])
  AND worker = :worker
RETURNING lease_token, state;

-- name: expire_leases_of
WITH touched AS (
    UPDATE jobs
    SET lease_expires_at = least(
            lease_expires_at, coalesce(:now, now()) + make_interval(secs => :grace_s)),
        updated_at = coalesce(:now, now())
    WHERE worker = :worker AND lease_token IS NOT NULL
      -- Not while the worker's entry is online or draining: it came back through another
      -- server and renewed its leases since its old connection ended.
      AND NOT EXISTS (SELECT 1 FROM workers WHERE name = :worker AND state <> 'offline')
    RETURNING 1
)
SELECT count(*) FROM touched;

-- name: complete
-- An earlier attempt's error and traceback go: the job succeeded (its events keep them).
WITH done AS (
    UPDATE jobs
    SET state = 'succeeded',
        result = :result::text::json,
        error = NULL,
        traceback = NULL,
        progress = 1.0,
        lease_token = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL,
        finished_at = coalesce(:now, now()),
        updated_at = coalesce(:now, now())
    WHERE id = :id AND state = 'running' AND lease_token = :token
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker)
    SELECT id, attempt, updated_at, 'succeeded', worker FROM done
)
SELECT * FROM done;

-- name: retry_later
-- A failed or lost attempt with attempts left: pending again, as the lifecycle rules decided
-- (rota.lifecycle): after :delay_s seconds, or with its run_at kept when :delay_s is NULL.
WITH retried AS (
    UPDATE jobs
    SET state = 'pending',
        run_at = coalesce(
            coalesce(:now, now()) + make_interval(secs => :delay_s::double precision), run_at),
        error = :error,
        traceback = :traceback,
        lease_token = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL,
        updated_at = coalesce(:now, now())
    WHERE id = :id AND state = 'running' AND lease_token = :token
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, :kind, worker, :message FROM retried
)
SELECT retried.*, pg_notify(:channel::text, queue) AS notified FROM retried;

-- name: fail_final
WITH failed AS (
    UPDATE jobs
    SET state = 'failed',
        error = :error,
        traceback = :traceback,
        lease_token = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL,
        finished_at = coalesce(:now, now()),
        updated_at = coalesce(:now, now())
    WHERE id = :id AND state = 'running' AND lease_token = :token
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, :kind, worker, :message FROM failed
)
SELECT * FROM failed;

-- name: release
-- The claim does not count, yet its run keeps its number (its code may have run for a while,
-- as in a drain): the round's start moves up by one, so attempts_left is unchanged and the
-- next claim gets a number of its own.
WITH released AS (
    UPDATE jobs
    SET state = 'pending',
        run_at = greatest(run_at, coalesce(:now, now())),  -- a reminder given back keeps its time
        prior_attempts = prior_attempts + 1,
        lease_token = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL,
        progress = NULL, progress_message = NULL,
        updated_at = coalesce(:now, now())
    WHERE id = :id AND state = 'running' AND lease_token = :token
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker)
    SELECT id, attempt, updated_at, 'released', worker FROM released
)
SELECT released.*, pg_notify(:channel::text, queue) AS notified FROM released;

-- name: end_stopped_lease
-- The code of an attempt cancelled while it ran has stopped (or its lease ran out): the
-- lease ends and the job, cancelled already, may be retried.
UPDATE jobs
SET lease_token = NULL,
    lease_expires_at = NULL,
    stop_requested_at = NULL,
    updated_at = coalesce(:now, now())
WHERE id = :id AND state = 'cancelled' AND lease_token = :token
RETURNING *;

-- name: report_stopping
WITH marked AS (
    UPDATE jobs
    SET stop_requested_at = coalesce(stop_requested_at, :now, now()),
        updated_at = coalesce(:now, now())
    WHERE id = :id AND state IN ('running', 'cancelled') AND lease_token = :token
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, 'stopping', worker, :message FROM marked
)
SELECT * FROM marked;

-- name: report_progress
WITH reported AS (
    UPDATE jobs
    SET progress = :progress, progress_message = :note, updated_at = coalesce(:now, now())
    WHERE id = :id AND state = 'running' AND lease_token = :token
    RETURNING id, attempt, worker, updated_at
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, 'progress', worker, :message FROM reported
)
SELECT id FROM reported;

-- name: insert_event
INSERT INTO events (job_id, attempt, at, kind, worker, message)
VALUES (:job_id, :attempt, coalesce(:now, now()), :kind, :worker, :message);

-- name: insert_log_events
-- Lines of a job that retention already deleted are dropped.
INSERT INTO events (job_id, attempt, at, kind, worker, message)
SELECT line.job_id, line.attempt, line.at, line.kind, line.worker, line.message
FROM unnest(
    :job_ids::text[], :attempts::integer[], :ats::timestamptz[], :kinds::text[],
    :workers::text[], :messages::text[]
) WITH ORDINALITY AS line (job_id, attempt, at, kind, worker, message, position)
WHERE EXISTS (SELECT 1 FROM jobs WHERE jobs.id = line.job_id)
ORDER BY line.position;

-- name: expired_leases
-- SKIP LOCKED: a lease another server is reaping right now is its business, not ours.
SELECT * FROM jobs
WHERE lease_token IS NOT NULL AND lease_expires_at <= coalesce(:now, now())
ORDER BY lease_expires_at, id
FOR UPDATE SKIP LOCKED;

-- name: expire_overdue
WITH overdue AS MATERIALIZED (
    SELECT id, ctid FROM jobs
    WHERE state = 'pending' AND deadline_at IS NOT NULL
      AND deadline_at <= coalesce(:now, now())
    FOR UPDATE SKIP LOCKED
), expired AS (
    UPDATE jobs
    SET state = 'expired', finished_at = coalesce(:now, now()), updated_at = coalesce(:now, now())
    FROM overdue
    -- Found where they were locked, as in acquire_many.
    WHERE jobs.ctid = ANY(ARRAY(SELECT ctid FROM overdue)) AND jobs.id = overdue.id
    RETURNING jobs.*
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, 'expired', worker, :message
    FROM expired
    ORDER BY id
)
SELECT * FROM expired ORDER BY id;

-- name: cancel
-- A running job keeps its lease: its worker holds it until the attempt's code stopped.
UPDATE jobs
SET state = 'cancelled',
    stop_requested_at = CASE WHEN lease_token IS NULL THEN NULL ELSE coalesce(:now, now()) END,
    finished_at = coalesce(:now, now()),
    updated_at = coalesce(:now, now())
WHERE id = :id AND state IN ('pending', 'running')
RETURNING *;

-- name: retry
-- A new round of max_attempts claims; attempts keep counting, so each keeps its number.
-- New arguments, when given, replace the old ones in the same statement.
WITH retried AS (
    UPDATE jobs
    SET state = 'pending',
        run_at = coalesce(:now, now()),
        args = coalesce(:args::text::json, args),
        kwargs = coalesce(:kwargs::text::json, kwargs),
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
        updated_at = coalesce(:now, now())
    WHERE id = :id AND state IN ('failed', 'cancelled', 'expired') AND lease_token IS NULL
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, 'retried', worker, :message FROM retried
)
SELECT retried.*, pg_notify(:channel::text, queue) AS notified FROM retried;

-- name: update_job
WITH changed AS (
    UPDATE jobs
    SET run_at = coalesce(:run_at, run_at),
        priority = coalesce(:priority, priority),
        args = coalesce(:args::text::json, args),
        kwargs = coalesce(:kwargs::text::json, kwargs),
        -- A job held ahead of its run_at goes back to pending, its lease ended as a
        -- release ends it (rota.lifecycle.editable_held): the claim does not count; only
        -- while its run_at is at least :edit_margin_s away.
        prior_attempts = prior_attempts + CASE WHEN state = 'running' THEN 1 ELSE 0 END,
        progress = CASE WHEN state = 'running' THEN NULL ELSE progress END,
        progress_message = CASE WHEN state = 'running' THEN NULL ELSE progress_message END,
        state = 'pending',
        lease_token = NULL,
        lease_expires_at = NULL,
        updated_at = coalesce(:now, now())
    WHERE id = :id
      AND (state = 'pending'
           OR (state = 'running' AND lease_token IS NOT NULL AND stop_requested_at IS NULL
               AND run_at > coalesce(:now, now())
                            + :edit_margin_s::float8 * interval '1 second'))
    RETURNING *
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    SELECT id, attempt, updated_at, 'updated', worker, :message FROM changed
)
SELECT changed.*, pg_notify(:channel::text, queue) AS notified FROM changed;

-- name: list_jobs
-- Each list_jobs_* query has one equality the planner can drive an index by.
-- :before is the cursor (an id), or a text greater than every id on the first page.
SELECT * FROM jobs
WHERE id < :before
  AND (:state::text IS NULL OR state = :state)
  AND (:queue::text IS NULL OR queue = :queue)
  AND (:task::text IS NULL OR task = :task)
  AND (:worker::text IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_state
SELECT * FROM jobs
WHERE state = :state AND id < :before
  AND (:queue::text IS NULL OR queue = :queue)
  AND (:task::text IS NULL OR task = :task)
  AND (:worker::text IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_queue
SELECT * FROM jobs
WHERE queue = :queue AND id < :before
  AND (:state::text IS NULL OR state = :state)
  AND (:task::text IS NULL OR task = :task)
  AND (:worker::text IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_task
SELECT * FROM jobs
WHERE task = :task AND id < :before
  AND (:state::text IS NULL OR state = :state)
  AND (:queue::text IS NULL OR queue = :queue)
  AND (:worker::text IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: list_jobs_by_worker
SELECT * FROM jobs
WHERE worker = :worker AND id < :before
  AND (:state::text IS NULL OR state = :state)
  AND (:queue::text IS NULL OR queue = :queue)
  AND (:task::text IS NULL OR task = :task)
ORDER BY id DESC
LIMIT :limit;

-- name: search_jobs
SELECT * FROM jobs
WHERE (id = :search OR idempotency_key = :search) AND id < :before
  AND (:state::text IS NULL OR state = :state)
  AND (:queue::text IS NULL OR queue = :queue)
  AND (:task::text IS NULL OR task = :task)
  AND (:worker::text IS NULL OR worker = :worker)
ORDER BY id DESC
LIMIT :limit;

-- name: job_exists
SELECT 1 FROM jobs WHERE id = :id;

-- name: list_events
SELECT * FROM events WHERE job_id = :job_id AND id > :after_id ORDER BY id LIMIT :limit;

-- name: queue_stats
SELECT queue,
       count(*) FILTER (WHERE state = 'pending') AS pending,
       count(*) FILTER (WHERE state = 'pending' AND run_at <= coalesce(:now, now())) AS due,
       count(*) FILTER (WHERE state = 'running') AS running,
       extract(epoch FROM coalesce(:now, now()) - min(run_at) FILTER (
           WHERE state = 'pending' AND run_at <= coalesce(:now, now())))::double precision
           AS oldest_due_age_s
FROM jobs
WHERE state IN ('pending', 'running')
GROUP BY queue
ORDER BY queue;

-- name: known_tasks
SELECT DISTINCT unnest(tasks) AS name FROM workers;

-- name: next_run_at
SELECT min(run_at) FROM jobs
WHERE state = 'pending' AND run_at > coalesce(:now, now()) + make_interval(secs => :ahead_s);

-- name: purge_jobs
WITH purged AS (
    DELETE FROM jobs
    WHERE finished_at < :before AND state IN ('succeeded', 'failed', 'cancelled', 'expired')
      AND lease_token IS NULL
    RETURNING 1
)
SELECT count(*) FROM purged;

-- name: purge_workers
DELETE FROM workers
WHERE state = 'offline' AND coalesce(last_seen_at, '-infinity') < :before;

-- name: register_worker
-- A hello: the worker's entry, online, with its connection's session digest. With :live_s,
-- an entry that a live connection elsewhere holds is left as it is and no row comes back:
-- online or draining, heard from less than :live_s ago, registered by another server, and
-- holding another session than the one the hello presents (:presented). The same rule as
-- rota.store.names.held_elsewhere; ON CONFLICT makes the check and the write one step.
INSERT INTO workers (
    name, queues, tags, tasks, capacity, running, state, server, connected_at, last_seen_at,
    resources, session_digest
) VALUES (
    :name, :queues::text[], :tags::text[], :tasks::text[], :capacity, :running, 'online',
    :server, coalesce(:connected_at, :now, now()), coalesce(:now, now()),
    :resources::text::json, :session_digest
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
    session_digest = excluded.session_digest
WHERE :live_s::float8 IS NULL
   OR workers.state = 'offline'
   OR workers.last_seen_at IS NULL
   OR workers.server = excluded.server
   OR workers.session_digest = :presented::text
   OR workers.last_seen_at <= excluded.last_seen_at - make_interval(secs => :live_s::float8)
RETURNING name;

-- name: name_holder
SELECT server, last_seen_at FROM workers WHERE name = :name;

-- name: worker_seen
UPDATE workers
SET last_seen_at = coalesce(:now, now()), running = :running, state = :state,
    resources = :resources::text::json
WHERE name = :name
  AND (:session_digest::text IS NULL OR session_digest = :session_digest::text);

-- name: worker_gone
UPDATE workers SET state = 'offline', running = 0, last_seen_at = coalesce(:now, now())
WHERE name = :name
  AND (:session_digest::text IS NULL OR session_digest = :session_digest::text)
RETURNING name;

-- name: list_workers
SELECT * FROM workers
ORDER BY CASE state WHEN 'online' THEN 0 WHEN 'draining' THEN 1 ELSE 2 END, name;

-- name: complete_many
-- Many successes in one statement, each fenced by its own token; an item whose token is not
-- current matches no row and is left out (the caller reads why). position is its index.
WITH spec AS (
    SELECT * FROM unnest(:ids::text[], :tokens::text[], :results::text[])
        WITH ORDINALITY AS s (id, token, result, position)
), done AS (
    UPDATE jobs
    SET state = 'succeeded',
        result = spec.result::json,
        error = NULL,
        traceback = NULL,
        progress = 1.0,
        lease_token = NULL,
        lease_expires_at = NULL,
        stop_requested_at = NULL,
        finished_at = coalesce(:now, now()),
        updated_at = coalesce(:now, now())
    FROM spec
    WHERE jobs.id = spec.id AND jobs.state = 'running' AND jobs.lease_token = spec.token
      AND jobs.id = ANY(:ids::text[])  -- found by key, as in acquire
    RETURNING jobs.*, spec.position
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker)
    SELECT id, attempt, updated_at, 'succeeded', worker FROM done ORDER BY position
)
SELECT * FROM done;

-- name: lock_leased_jobs
-- The running jobs these (id, token) leases are current for, locked until the transaction ends.
SELECT jobs.* FROM jobs
JOIN unnest(:ids::text[], :tokens::text[]) AS lease (id, token)
    ON jobs.id = lease.id AND jobs.lease_token = lease.token
WHERE jobs.state = 'running' AND jobs.id = ANY(:ids::text[])
ORDER BY jobs.id
FOR UPDATE OF jobs;

-- name: get_jobs
SELECT * FROM jobs WHERE id = ANY(:ids::text[]);

-- name: acquire_many
-- Claims for several workers' requests in one statement (one round trip, no transaction
-- around it). :requests is a JSON array of {step, position, worker, queues, open, tags, tasks,
-- wanted, depth, lease_s, horizon_s, lead_s}, steps numbered 1, 2... in dispatch order. First the best `depth`
-- due jobs of each queue of each request that it may run are locked (SKIP LOCKED, as
-- acquire); `depth` covers what the requests before it may take first. Then the requests
-- are served one after the other, each taking its best `wanted` candidates that no request
-- before it took; then every chosen job is claimed for its worker, with its `started` event.
-- claimed_for is the request's position.
WITH RECURSIVE request AS MATERIALIZED (
    SELECT * FROM jsonb_to_recordset(:requests::jsonb) AS r (
        step integer, position integer, worker text, queues text[], open boolean, tags text[],
        tasks text[], wanted integer, depth integer, lease_s double precision,
        horizon_s double precision, lead_s double precision
    )
), candidates AS MATERIALIZED (
    SELECT request.step, candidate.id, candidate.priority, candidate.run_at, candidate.seq,
           candidate.ctid
    FROM request
    CROSS JOIN LATERAL unnest(request.queues) AS wanted (queue)
    CROSS JOIN LATERAL (
        SELECT id, priority, run_at, seq, ctid FROM jobs
        WHERE state = 'pending'
          AND queue = wanted.queue
          AND (run_at <= coalesce(:now, now()) + make_interval(secs => request.lead_s)
               OR (target IS NOT NULL
                   AND run_at <= coalesce(:now, now())
                       + make_interval(secs => request.horizon_s)))
          AND (request.tasks IS NULL OR task = ANY(request.tasks))
          AND ((request.open AND (target IS NULL OR target = request.worker))
               OR target = ANY(request.tags))
          AND (deadline_at IS NULL OR deadline_at > coalesce(:now, now()))
        ORDER BY priority DESC, run_at, seq
        LIMIT request.depth
        FOR UPDATE SKIP LOCKED
    ) AS candidate
), handed (step, taken, ids) AS (
    SELECT 0, ARRAY[]::text[] COLLATE "C", ARRAY[]::text[] COLLATE "C"
    UNION ALL
    SELECT handed.step + 1, handed.taken || pick.ids, pick.ids
    FROM handed
    JOIN request ON request.step = handed.step + 1
    CROSS JOIN LATERAL (
        SELECT coalesce(array_agg(best.id), ARRAY[]::text[]) AS ids FROM (
            SELECT candidates.id FROM candidates
            WHERE candidates.step = request.step AND candidates.id <> ALL (handed.taken)
            ORDER BY candidates.priority DESC, candidates.run_at, candidates.seq
            LIMIT request.wanted
        ) AS best
    ) AS pick
), chosen AS MATERIALIZED (
    SELECT picked.id, request.position, request.worker, request.lease_s, candidates.ctid
    FROM handed
    JOIN request ON request.step = handed.step
    CROSS JOIN LATERAL unnest(handed.ids) AS picked (id)
    JOIN candidates ON candidates.step = handed.step AND candidates.id = picked.id
), claimed AS (
    UPDATE jobs
    SET state = 'running',
        attempt = attempt + 1,
        lease_token = replace(gen_random_uuid()::text, '-', ''),
        lease_expires_at = coalesce(:now, now()) + make_interval(secs => chosen.lease_s),
        worker = chosen.worker,
        -- A job claimed ahead (within the worker's lead) starts at its run_at, not before.
        started_at = greatest(coalesce(:now, now()), jobs.run_at),
        progress = NULL, progress_message = NULL,
        stop_requested_at = NULL,
        updated_at = coalesce(:now, now())
    FROM chosen
    -- Each row is found where the first step locked it (its ctid), whatever the planner
    -- thinks of the table: a join on the id alone hashed every pending job while the
    -- table had no statistics yet. The lock keeps the row pending until this update, so
    -- the state needs no second look (which would steer the planner to the pending rows).
    WHERE jobs.ctid = ANY(ARRAY(SELECT ctid FROM chosen)) AND jobs.id = chosen.id
    RETURNING jobs.*, chosen.position AS claimed_for
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, worker, message)
    -- The words of rota.lifecycle.started_message, which the contract tests compare.
    SELECT id, attempt, updated_at, 'started', worker,
           'attempt ' || attempt || ' of ' || (prior_attempts + max_attempts)
           || CASE WHEN started_at > updated_at
                   THEN '; handed over ahead, its code starts at its run_at' ELSE '' END
    FROM claimed
    ORDER BY claimed_for, priority DESC, run_at, seq
)
SELECT * FROM claimed;

-- name: create_token
INSERT INTO tokens (id, name, role, digest, binding, created_at)
VALUES (:id, :name, :role, :digest, :binding, coalesce(:now, now()));

-- name: lock_tokens
-- Readers go on; another writer of tokens waits for the end of the transaction.
LOCK TABLE tokens IN SHARE ROW EXCLUSIVE MODE;

-- name: create_first_token
INSERT INTO tokens (id, name, role, digest, binding, created_at)
SELECT :id, :name, :role, :digest, :binding, coalesce(:now, now())
WHERE NOT EXISTS (SELECT 1 FROM tokens)
RETURNING id;

-- name: list_tokens
SELECT * FROM tokens ORDER BY created_at, id;

-- name: revoke_token
UPDATE tokens SET revoked_at = coalesce(revoked_at, coalesce(:now, now())) WHERE id = :id
RETURNING *;
