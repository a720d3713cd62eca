-- Read-only queries for people's questions (rota.store.explore). Every filter is optional
-- (NULL: not applied); :search is lower case, :search_json the same text as it appears
-- inside stored JSON.

-- name: filter_jobs
-- Any filters, any order. The order is chosen by CASE expressions, each of which is NULL
-- for every row unless its column and direction are the ones asked for; the id breaks ties.
SELECT * FROM jobs
WHERE (:before::text IS NULL OR id < :before)
  AND (:after::text IS NULL OR id > :after)
  AND (:state::text IS NULL OR state = :state)
  AND (:queue::text IS NULL OR queue = :queue)
  AND (:task::text IS NULL OR starts_with(task, :task))
  AND (:worker::text IS NULL OR worker = :worker)
  AND (:schedule_id::text IS NULL OR schedule_id = :schedule_id)
  AND (:created_after::timestamptz IS NULL OR created_at >= :created_after)
  AND (:created_before::timestamptz IS NULL OR created_at < :created_before)
  AND (:finished_after::timestamptz IS NULL OR finished_at >= :finished_after)
  AND (:search::text IS NULL
       OR starts_with(id, :search)
       OR right(id, length(:search)) = :search
       OR idempotency_key = :search
       OR starts_with(lower(task), :search)
       OR strpos(lower(args::text), :search_json::text) > 0
       OR strpos(lower(kwargs::text), :search_json) > 0
       OR strpos(lower(coalesce(result::text, '')), :search_json) > 0
       OR strpos(lower(coalesce(error, '')), :search) > 0)
ORDER BY
  CASE WHEN :sort::text = 'run_at' AND :descending::boolean THEN run_at END DESC,
  CASE WHEN :sort = 'run_at' AND NOT :descending THEN run_at END ASC,
  CASE WHEN :sort = 'duration' AND :descending THEN finished_at - started_at END DESC NULLS LAST,
  CASE WHEN :sort = 'duration' AND NOT :descending THEN finished_at - started_at END ASC NULLS LAST,
  CASE WHEN :sort = 'task' AND :descending THEN task COLLATE "C" END DESC,
  CASE WHEN :sort = 'task' AND NOT :descending THEN task COLLATE "C" END ASC,
  CASE WHEN :sort = 'state' AND :descending THEN state COLLATE "C" END DESC,
  CASE WHEN :sort = 'state' AND NOT :descending THEN state COLLATE "C" END ASC,
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
       CASE WHEN state IN ('succeeded', 'failed')
            THEN extract(epoch FROM finished_at - started_at)::double precision END AS run_s,
       extract(epoch FROM started_at - run_at)::double precision AS late_s
FROM jobs
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
  AND (:after::timestamptz IS NULL OR fire_at >= :after)
  AND (:before::timestamptz IS NULL OR fire_at < :before)
ORDER BY fire_at DESC, id DESC
LIMIT :limit;
