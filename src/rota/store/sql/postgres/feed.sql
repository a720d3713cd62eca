-- Named queries of the change feed across servers (postgres_feed.py).

-- name: notify_changes
-- Several payloads in one round trip; each is delivered when the statement commits.
SELECT pg_notify(:channel::text, payload) FROM unnest(:payloads::text[]) AS payload;
