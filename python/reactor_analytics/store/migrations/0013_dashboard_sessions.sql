-- Dashboard sessions: the browser holds only an opaque random id (cookie reactor_session), stored
-- here as its SHA-256. A row keeps the verified principal (never the token it signed in with),
-- the CSRF token every write must echo, and when it ends (at most 12 hours after sign-in).
CREATE TABLE dashboard_sessions (
    id_hash      bytea PRIMARY KEY,
    kind         text NOT NULL CHECK (kind IN ('admin', 'jwt', 'oidc', 'share')),
    subject      text NOT NULL,
    permissions  text[] NOT NULL DEFAULT '{}',
    org_id       text,
    -- A shared link's session: queries of the link's project only, ended with the link.
    share_id     text REFERENCES dashboard_shares (id) ON DELETE CASCADE,
    csrf_token   text NOT NULL,
    created_at   timestamptz NOT NULL DEFAULT now(),
    expires_at   timestamptz NOT NULL,
    CHECK ((kind = 'share') = (share_id IS NOT NULL))
);
CREATE INDEX dashboard_sessions_expiry ON dashboard_sessions (expires_at);

-- OIDC sign-ins under way: the state (as SHA-256), nonce and PKCE verifier between the redirect
-- to the provider and its callback; used once, valid ten minutes.
CREATE TABLE dashboard_oidc_logins (
    state_hash     bytea PRIMARY KEY,
    nonce          text NOT NULL,
    code_verifier  text NOT NULL,
    expires_at     timestamptz NOT NULL
);
