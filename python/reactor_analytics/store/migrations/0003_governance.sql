-- Monthly event usage per org, for the quota. Updated in the transaction that stores the events,
-- so the count is exactly what was stored.
CREATE TABLE org_usage (
    org_id  text NOT NULL,
    month   date NOT NULL,
    events  bigint NOT NULL,
    PRIMARY KEY (org_id, month)
);

