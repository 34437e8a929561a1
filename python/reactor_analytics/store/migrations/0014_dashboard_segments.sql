-- Saved segments of the dashboard: a named filter (the query filter grammar, checked by the engine
-- when saved) per project. Deleting one removes its row.
CREATE TABLE dashboard_segments (
    id          text PRIMARY KEY,
    project_id  text NOT NULL REFERENCES projects (id),
    name        text NOT NULL,
    filter      jsonb NOT NULL,
    created_by  text NOT NULL,
    created_at  timestamptz NOT NULL DEFAULT now()
);
CREATE INDEX dashboard_segments_project ON dashboard_segments (project_id, created_at);
