-- Claims read each of a worker's queues by its own index range, in dispatch order, so a
-- claim's cost stays flat however many jobs wait in other queues (the index it replaces
-- began with priority, and walked every queue's pending jobs to find one queue's).

DROP INDEX jobs_claim;
CREATE INDEX jobs_claim ON jobs (queue, priority DESC, run_at, seq) WHERE state = 'pending';
