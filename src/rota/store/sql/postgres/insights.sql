-- Read-only figures for the dashboard and metrics (rota.store.insights).

-- name: throughput
SELECT to_timestamp(
           floor(extract(epoch FROM finished_at)::double precision / :bucket_s::double precision)
           * :bucket_s::double precision) AS bucket_at,
       count(*) FILTER (WHERE state = 'succeeded') AS succeeded,
       count(*) FILTER (WHERE state = 'failed') AS failed
FROM jobs
WHERE finished_at IS NOT NULL AND finished_at >= :since
  AND state IN ('succeeded', 'failed')
GROUP BY bucket_at
ORDER BY bucket_at;

-- name: lateness
SELECT extract(epoch FROM started_at - run_at)::double precision AS late_s
FROM jobs
WHERE finished_at IS NOT NULL AND finished_at >= :since AND started_at IS NOT NULL
ORDER BY finished_at DESC
LIMIT :limit;

-- name: event_watermark
SELECT coalesce(max(id), 0) AS id FROM events;
