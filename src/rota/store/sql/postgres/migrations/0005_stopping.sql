-- Stopping: an attempt asked to stop (cancelled, timed out, drained) while its code still
-- runs keeps its lease until its worker says the code stopped, or the lease runs out. A job
-- cancelled while it ran therefore holds a lease too, so lease lookups no longer go by state.

ALTER TABLE jobs ADD COLUMN stop_requested_at timestamptz;

DROP INDEX jobs_lease_expiry;
CREATE INDEX jobs_lease_expiry ON jobs (lease_expires_at) WHERE lease_token IS NOT NULL;
-- A worker's leases, running or stopping (its connection closed).
CREATE INDEX jobs_leased_by_worker ON jobs (worker) WHERE lease_token IS NOT NULL;
