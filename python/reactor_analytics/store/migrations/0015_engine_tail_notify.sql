-- The query engine wakes when a tail has new rows instead of polling: every statement that adds
-- (or, for links and traits, re-sequences) rows of a tailed table notifies the channel
-- `reactor_tail` with the tail's name. PostgreSQL delivers a notification when its transaction
-- commits and folds identical ones within a transaction, so a committed transaction sends at most
-- one per tail. Erasure and retention delete through the engine itself and need no wake-up.

CREATE FUNCTION reactor_notify_tail() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
    PERFORM pg_notify('reactor_tail', TG_ARGV[0]);
    RETURN NULL;
END
$$;

CREATE TRIGGER events_notify_tail AFTER INSERT ON events
    FOR EACH STATEMENT EXECUTE FUNCTION reactor_notify_tail('events');
CREATE TRIGGER identity_links_notify_tail AFTER INSERT OR UPDATE ON identity_links
    FOR EACH STATEMENT EXECUTE FUNCTION reactor_notify_tail('links');
CREATE TRIGGER person_traits_notify_tail AFTER INSERT OR UPDATE ON person_traits
    FOR EACH STATEMENT EXECUTE FUNCTION reactor_notify_tail('traits');
