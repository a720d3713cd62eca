-- Read-only queries for people's questions (rota.store.explore).
-- Moments are INTEGER microseconds since the epoch, as in queries.sql. Every filter is
-- optional (NULL: not applied); :search is lower case, :search_json the same text as it
-- appears inside stored JSON.

-- name: filter_jobs
-- Any filters, any order. The order is chosen by CASE expressions, each of which is NULL
-- for every row unless its column and direction are the ones asked for; the id breaks ties.
SELECT * FROM jobs
WHERE (:before IS NULL OR id < :before)
  AND (:after IS NULL OR id > :after)
  AND (:state IS NULL OR state = :state)
  AND (:queue IS NULL OR queue = :queue)
  AND (:task IS NULL OR substr(task, 1, length(:task)) = :task)
  AND (:worker IS NULL OR worker = :worker)
  AND (:schedule_id IS NULL OR schedule_id = :schedule_id)
  AND (:created_after IS NULL OR created_at >= :created_after)
  AND (:created_before IS NULL OR created_at < :created_before)
  AND (:finished_after IS NULL OR finished_at >= :finished_after)
  AND (:search IS NULL
       OR substr(id, 1, length(:search)) = :search
       OR substr(id, -length(:search)) = :search
       OR idempotency_key = :search
       OR substr(lower(task), 1, length(:search)) = :search
       OR instr(lower(args), :search_json) > 0
       OR instr(lower(kwargs), :search_json) > 0
       OR instr(lower(coalesce(result, '')), :search_json) > 0
       OR instr(lower(coalesce(error, '')), :search) > 0)
ORDER BY
  CASE WHEN :sort = 'run_at' AND :descending THEN run_at END DESC,
  CASE WHEN :sort = 'run_at' AND NOT :descending THEN run_at END ASC,
  CASE WHEN :sort = 'duration' AND :descending THEN finished_at - started_at END DESC NULLS LAST,
  CASE WHEN :sort = 'duration' AND NOT :descending THEN finished_at - started_at END ASC NULLS LAST,
  CASE WHEN :sort = 'task' AND :descending THEN task END DESC,
  CASE WHEN :sort = 'task' AND NOT :descending THEN task END ASC,
  CASE WHEN :sort = 'state' AND :descending THEN state END DESC,
  CASE WHEN :sort = 'state' AND NOT :descending THEN state END ASC,
  CASE WHEN :descending THEN id END DESC,
  CASE WHEN NOT :descending THEN id END ASC
LIMIT :limit OFFSET :offset;

-- name: task_counts
SELECT task, state, count(*) AS jobs
FROM jobs
WHERE finished_at >= :since OR state IN ('pending', 'running')
GROUP BY task, state;

-- name: task_samples
SELECT task,
       CASE WHEN state IN ('succeeded', 'failed') THEN finished_at - started_at END AS run_us,
       started_at - run_at AS late_us
FROM jobs INDEXED BY jobs_finished
WHERE finished_at IS NOT NULL AND finished_at >= :since AND started_at IS NOT NULL
ORDER BY finished_at DESC
LIMIT :limit;

-- name: attempt_errors
SELECT * FROM attempt_errors WHERE job_id = :job_id ORDER BY attempt;

-- name: worker_samples
SELECT * FROM worker_samples WHERE worker = :name ORDER BY at;

-- name: schedule_skips
SELECT * FROM schedule_skips
WHERE schedule_id = :schedule_id
  AND (:after IS NULL OR fire_at >= :after)
  AND (:before IS NULL OR fire_at < :before)
ORDER BY fire_at DESC, id DESC
LIMIT :limit;
