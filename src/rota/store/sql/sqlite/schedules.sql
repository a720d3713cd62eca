-- Named queries of the SQLite store for schedules. Moments are INTEGER microseconds (UTC).
-- Every read joins the state of the schedule's last occurrence, and whether its code is
-- still stopping (for the overlap policy).

-- name: insert_schedule
INSERT INTO schedules (
    id, name, definition, paused, next_fire_at, version, created_at, updated_at
) VALUES (
    :id, :name, :definition, :paused, :next_fire_at, 1, :now, :now
);

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
FROM schedules AS s INDEXED BY schedules_due
LEFT JOIN jobs AS j ON j.id = s.last_job_id
WHERE s.paused = 0 AND s.next_fire_at IS NOT NULL AND s.next_fire_at <= :far
  AND s.next_fire_at - CAST(
        COALESCE(json_extract(s.definition, '$.lookahead_s'), 0) * 1000000 AS INTEGER
      ) <= :until
ORDER BY s.next_fire_at
LIMIT :limit;

-- name: update_schedule
UPDATE schedules
SET definition = :definition,
    paused = :paused,
    next_fire_at = :next_fire_at,
    version = version + 1,
    updated_at = :now
WHERE id = :id AND version = :version;

-- name: advance_schedule
-- The compare-and-set of a scheduler round: only the server that read this version wins.
UPDATE schedules
SET next_fire_at = :next_fire_at,
    last_fire_at = :last_fire_at,
    fired_count = fired_count + :fired,
    skipped_count = skipped_count + :skipped,
    version = version + 1,
    updated_at = :now
WHERE id = :id AND version = :version;

-- name: set_last_job
UPDATE schedules SET last_job_id = :job_id WHERE id = :id;

-- name: delete_schedule
DELETE FROM schedules WHERE id = :id;

-- name: cancel_ahead
-- Occurrences written ahead of their time, when their schedule is paused or removed.
UPDATE jobs INDEXED BY jobs_pending_by_schedule
SET state = 'cancelled', finished_at = :now, updated_at = :now
WHERE schedule_id = :id AND state = 'pending' AND run_at > :now
RETURNING *;

-- name: record_skip
INSERT INTO schedule_skips (schedule_id, fire_at, at, reason)
VALUES (:schedule_id, :fire_at, :now, :reason);

-- name: trim_skips
DELETE FROM schedule_skips
WHERE schedule_id = :schedule_id AND id NOT IN (
    SELECT id FROM schedule_skips WHERE schedule_id = :schedule_id
    ORDER BY fire_at DESC, id DESC LIMIT 200
);
