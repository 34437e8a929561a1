-- Browser data: error groups, a project's sources, tracking pixels and the daily salts of
-- cookieless persons.

-- An `$error` event's group, computed at ingest (native/core/src/fingerprint.rs); NULL for every
-- other event. The errors answer counts a project's errors of a time range from this index alone.
ALTER TABLE events ADD COLUMN fingerprint text;
CREATE INDEX events_errors ON events (project_id, ts) INCLUDE (fingerprint, distinct_id)
    WHERE fingerprint IS NOT NULL;

-- One row per error group and project, kept by ingest in the transaction that stores the events:
-- first and last occurrence (event time), the last type and message, and the triage state. A new
-- occurrence turns `resolved` back into `unresolved`; `ignored` stays.
CREATE TABLE error_groups (
    project_id   text NOT NULL REFERENCES projects (id),
    fingerprint  text NOT NULL,
    type         text NOT NULL,
    message      text NOT NULL,
    state        text NOT NULL DEFAULT 'unresolved' CHECK (state IN ('unresolved', 'resolved', 'ignored')),
    first_seen   timestamptz NOT NULL,
    last_seen    timestamptz NOT NULL,
    updated_at   timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, fingerprint)
);

-- The page hostnames a project accepts (lowercase); none: any. With auto_register_sources, a new
-- hostname is added as it reports.
ALTER TABLE projects ADD COLUMN auto_register_sources boolean NOT NULL DEFAULT false;
CREATE TABLE project_sources (
    project_id  text NOT NULL REFERENCES projects (id),
    hostname    text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now(),
    PRIMARY KEY (project_id, hostname)
);

-- Tracking pixels: created by an admin for one project; a deleted pixel answers 404.
CREATE TABLE pixels (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    name        text NOT NULL,
    metadata    jsonb NOT NULL DEFAULT '{}',
    created_at  timestamptz NOT NULL DEFAULT now(),
    deleted_at  timestamptz
);
CREATE INDEX pixels_project ON pixels (project_id);

-- The random salt of each UTC day for cookieless persons. Ingest deletes salts older than
-- yesterday, so no salt outlives 48 hours and an id cannot be recomputed after that.
CREATE TABLE cookieless_salts (
    day         date PRIMARY KEY,
    salt        bytea NOT NULL CHECK (length(salt) = 16),
    created_at  timestamptz NOT NULL DEFAULT now()
);
