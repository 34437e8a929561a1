-- Projects, keys, events, identities, consent and audit: the system of record.

CREATE TABLE projects (
    id              text PRIMARY KEY,
    org_id          text NOT NULL,
    slug            text NOT NULL UNIQUE,
    name            text NOT NULL,
    retention_days  integer NOT NULL DEFAULT 90,
    created_at      timestamptz NOT NULL DEFAULT now()
);

CREATE TABLE project_keys (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    name        text NOT NULL,
    prefix      text NOT NULL,
    key_hash    bytea NOT NULL UNIQUE,
    created_at  timestamptz NOT NULL DEFAULT now(),
    revoked_at  timestamptz
);
CREATE INDEX project_keys_project ON project_keys (project_id);

-- One row per accepted event. `seq` orders rows by arrival so derived stores can tail the table.
CREATE TABLE events (
    seq            bigint GENERATED ALWAYS AS IDENTITY,
    project_id     text NOT NULL,
    message_id     text NOT NULL,
    event          text NOT NULL,
    ts             timestamptz NOT NULL,
    received_at    timestamptz NOT NULL,
    distinct_id    text NOT NULL,
    anonymous_id   text,
    user_id        text,
    session_id     text,
    url            text,
    path           text,
    referrer_host  text,
    utm_source     text,
    utm_medium     text,
    utm_campaign   text,
    utm_term       text,
    utm_content    text,
    browser        text,
    os             text,
    device_type    text,
    country        text,
    language       text,
    timezone       text,
    ip_prefix      text,
    library        text,
    properties     jsonb NOT NULL DEFAULT '{}',
    context        jsonb,
    PRIMARY KEY (project_id, message_id)
);
CREATE INDEX events_project_ts ON events (project_id, ts);
CREATE INDEX events_seq ON events (seq);

-- An anonymous id linked to a user by $identify / $alias. The first link wins.
CREATE TABLE identity_links (
    project_id    text NOT NULL,
    anonymous_id  text NOT NULL,
    user_id       text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, anonymous_id)
);
CREATE INDEX identity_links_user ON identity_links (project_id, user_id);

CREATE TABLE person_traits (
    project_id  text NOT NULL,
    user_id     text NOT NULL,
    traits      jsonb NOT NULL DEFAULT '{}',
    updated_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, user_id)
);

CREATE TABLE consent_opt_outs (
    project_id    text NOT NULL,
    anonymous_id  text NOT NULL,
    created_at    timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, anonymous_id)
);

-- Administrative actions, never with personal data.
CREATE TABLE audit_log (
    id          bigint GENERATED ALWAYS AS IDENTITY PRIMARY KEY,
    project_id  text,
    action      text NOT NULL,
    detail      jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now()
);

-- Merges jsonb objects in order; later keys win (used for person traits).
CREATE AGGREGATE jsonb_merge_agg(jsonb) (SFUNC = jsonb_concat, STYPE = jsonb, INITCOND = '{}');
