-- Read-only figures for the dashboard and metrics (rota.store.insights).
-- Moments are INTEGER microseconds since the epoch, as in queries.sql.

-- name: throughput
-- Walks the retention index over the last span only.
SELECT (finished_at / :bucket_us) * :bucket_us AS bucket_us,
       sum(state = 'succeeded') AS succeeded,
       sum(state = 'failed') AS failed
FROM jobs INDEXED BY jobs_finished
WHERE finished_at IS NOT NULL AND finished_at >= :since
  AND state IN ('succeeded', 'failed')
GROUP BY bucket_us
ORDER BY bucket_us;

-- name: lateness
SELECT started_at - run_at AS late_us
FROM jobs INDEXED BY jobs_finished
WHERE finished_at IS NOT NULL AND finished_at >= :since AND started_at IS NOT NULL
ORDER BY finished_at DESC
LIMIT :limit;

-- name: event_watermark
SELECT coalesce(max(id), 0) AS id FROM events;
