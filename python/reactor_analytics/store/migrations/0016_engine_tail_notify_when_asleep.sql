-- Notify only while an engine sleeps on the channel. PostgreSQL serializes the commits of
-- notifying transactions (one at a time, each with its own WAL flush), which concurrent ingest
-- would pay for on every commit; so an engine going to sleep takes advisory lock 1588361745
-- (store/queries.py TAIL_LOCK) exclusively, and releases it when it wakes and reads. A statement
-- that adds tail rows notifies if the lock is taken (or asked for); otherwise it holds the lock
-- shared until its transaction ends, so an engine going to sleep first waits for that transaction
-- and then reads its rows.

CREATE OR REPLACE FUNCTION reactor_notify_tail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    IF NOT pg_try_advisory_xact_lock_shared(1588361745) THEN
        PERFORM pg_notify('reactor_tail', TG_ARGV[0]);
    END IF;
    RETURN NULL;
END
$$;
