-- Count stored events against an org's monthly usage, or fail with SQLSTATE RA429 when that
-- would pass its quota. Failing (rather than returning nothing) lets ingest send this and COMMIT
-- together: the org's usage row, which every writer of the org locks, is then held only while the
-- transaction commits, never for a round trip back to a busy service process.
CREATE FUNCTION count_org_usage(p_org text, p_month date, p_events bigint, p_quota bigint)
RETURNS bigint LANGUAGE plpgsql AS $$
DECLARE
    total bigint;
BEGIN
    INSERT INTO org_usage AS u (org_id, month, events) VALUES (p_org, p_month, p_events)
    ON CONFLICT (org_id, month) DO UPDATE SET events = u.events + excluded.events
    WHERE u.events + excluded.events <= p_quota
    RETURNING events INTO total;
    IF total IS NULL OR total > p_quota THEN
        RAISE EXCEPTION 'the monthly event quota of org % is used up', p_org USING ERRCODE = 'RA429';
    END IF;
    RETURN total;
END
$$;
