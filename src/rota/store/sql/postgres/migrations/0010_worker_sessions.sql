-- The digest (SHA-256) of the session secret of the connection that holds a worker's name,
-- never the secret: a hello under a live worker's name is refused on every server sharing
-- the store, unless it presents that session.
ALTER TABLE workers ADD COLUMN IF NOT EXISTS session_digest text;
