-- Named queries of the PostgreSQL store for schedules. "now" is coalesce(:now, now()), as in
-- queries.sql. Every read joins the state of the schedule's last occurrence (for overlap).

-- name: insert_schedule
INSERT INTO schedules (
    id, name, definition, paused, next_fire_at, version, created_at, updated_at
) VALUES (
    :id, :name, :definition::json, :paused, :next_fire_at, 1, coalesce(:now, now()),
    coalesce(:now, now())
)
ON CONFLICT (name) DO NOTHING
RETURNING id;

-- name: schedule_by_id
SELECT s.*, j.state AS last_job_state,
       j.stop_requested_at IS NOT NULL AS last_job_stopping
FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
WHERE s.id = :ref;

-- name: schedule_by_name
SELECT s.*, j.state AS last_job_state,
       j.stop_requested_at IS NOT NULL AS last_job_stopping
FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
WHERE s.name = :ref;

-- name: list_schedules
SELECT s.*, j.state AS last_job_state,
       j.stop_requested_at IS NOT NULL AS last_job_stopping
FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
ORDER BY s.name;

-- name: due_schedules
-- Due when the next fire time minus the schedule's own lookahead_s is at or before :until;
-- :far (= :until + the longest lookahead allowed) bounds the scan of the index.
SELECT s.*, j.state AS last_job_state,
       j.stop_requested_at IS NOT NULL AS last_job_stopping
FROM schedules AS s LEFT JOIN jobs AS j ON j.id = s.last_job_id
WHERE NOT s.paused AND s.next_fire_at IS NOT NULL AND s.next_fire_at <= :far
  AND s.next_fire_at - make_interval(
        secs => COALESCE((s.definition->>'lookahead_s')::float8, 0)
      ) <= :until
ORDER BY s.next_fire_at
LIMIT :limit;

-- name: update_schedule
UPDATE schedules
SET definition = :definition::json,
    paused = :paused,
    next_fire_at = :next_fire_at,
    version = version + 1,
    updated_at = coalesce(:now, now())
WHERE id = :id AND version = :version
RETURNING id;

-- name: advance_schedule
-- The compare-and-set of a scheduler round. A second server racing for the same version
-- waits for the first one's commit, then finds the version moved on and matches nothing.
UPDATE schedules
SET next_fire_at = :next_fire_at,
    last_fire_at = :last_fire_at,
    fired_count = fired_count + :fired,
    skipped_count = skipped_count + :skipped,
    version = version + 1,
    updated_at = coalesce(:now, now())
WHERE id = :id AND version = :version
RETURNING id;

-- name: set_last_job
UPDATE schedules SET last_job_id = :job_id WHERE id = :id;

-- name: delete_schedule
DELETE FROM schedules WHERE id = :id;

-- name: cancel_ahead
-- Occurrences written ahead of their time, when their schedule is paused or removed.
WITH cancelled AS (
    UPDATE jobs
    SET state = 'cancelled', finished_at = coalesce(:now, now()),
        updated_at = coalesce(:now, now())
    WHERE schedule_id = :id AND state = 'pending' AND run_at > coalesce(:now, now())
    RETURNING id, attempt, updated_at
), logged AS (
    INSERT INTO events (job_id, attempt, at, kind, message)
    SELECT id, attempt, updated_at, 'cancelled', :message::text FROM cancelled
)
SELECT count(*) FROM cancelled;

-- name: record_skips
INSERT INTO schedule_skips (schedule_id, fire_at, at, reason)
SELECT :schedule_id, skip.fire_at, coalesce(:now, now()), skip.reason
FROM unnest(:fire_ats::timestamptz[], :reasons::text[]) AS skip (fire_at, reason);

-- name: trim_skips
DELETE FROM schedule_skips
WHERE schedule_id = :schedule_id AND id NOT IN (
    SELECT id FROM schedule_skips WHERE schedule_id = :schedule_id
    ORDER BY fire_at DESC, id DESC LIMIT 200
);
