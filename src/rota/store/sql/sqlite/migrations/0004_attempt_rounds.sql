-- Attempts keep counting across manual retries, so every attempt keeps a number of its own
-- in the execution log. A manual retry starts a new round of max_attempts claims; this
-- column holds the claims made before the current round.

ALTER TABLE jobs ADD COLUMN prior_attempts INTEGER NOT NULL DEFAULT 0;
