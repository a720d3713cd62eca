-- Bearer tokens: each one's digest (SHA-256 of the secret, never the secret), role and
-- binding; a revoked token keeps its row (revoked_at set), so lists show it and its id is
-- never made again.
CREATE TABLE tokens (
    id TEXT PRIMARY KEY,
    name TEXT NOT NULL,
    role TEXT NOT NULL,
    digest TEXT NOT NULL UNIQUE,
    binding TEXT,
    created_at INTEGER NOT NULL,
    revoked_at INTEGER
);
