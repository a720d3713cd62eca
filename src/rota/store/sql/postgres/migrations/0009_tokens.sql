-- Bearer tokens: each one's digest (SHA-256 of the secret, never the secret), role and
-- binding; a revoked token keeps its row (revoked_at set), so lists show it and its id is
-- never made again.
CREATE TABLE IF NOT EXISTS tokens (
    id text PRIMARY KEY,
    name text NOT NULL,
    role text NOT NULL,
    digest text NOT NULL UNIQUE,
    binding text,
    created_at timestamptz NOT NULL DEFAULT now(),
    revoked_at timestamptz
);
