-- The fingerprint of a submission (a hash of its task, arguments and options), so that a
-- second submission under the same idempotency key can be told apart from a retry of the
-- first. Jobs stored before have none, and match any submission.

ALTER TABLE jobs ADD COLUMN fingerprint text;
