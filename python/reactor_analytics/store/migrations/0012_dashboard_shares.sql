-- Shared read-only links of the dashboard: one project each, revocable, with an optional password.
-- The link's secret is stored only as its SHA-256 (it carries 256 random bits), the password only
-- as a salted scrypt hash. A revoked link keeps its row (revoked_at) for the audit trail.
CREATE TABLE dashboard_shares (
    id             text PRIMARY KEY,
    project_id     text NOT NULL REFERENCES projects (id),
    name           text,
    token_hash     bytea NOT NULL UNIQUE,
    password_salt  bytea,
    password_hash  bytea,
    created_by     text NOT NULL,
    created_at     timestamptz NOT NULL DEFAULT now(),
    revoked_at     timestamptz,
    CHECK ((password_salt IS NULL) = (password_hash IS NULL))
);
CREATE INDEX dashboard_shares_project ON dashboard_shares (project_id, created_at);
