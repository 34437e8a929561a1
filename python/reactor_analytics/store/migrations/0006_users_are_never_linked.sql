-- An id is a user once it has sent an event as user_id, not only once it was the user side of a
-- link, and a user is never linked to another user, whichever of the two arrived first.
-- identity_links now holds one row per id: a user's own row (anonymous_id = user_id), or the
-- first link of an anonymous id to a user (store_links in queries.py keeps it so at ingest).
-- Here every id already stored as a user_id gets its own row, which replaces a link it had (with
-- a new seq, so a running query engine reads the change).
INSERT INTO identity_links AS l (project_id, anonymous_id, user_id)
SELECT project_id, user_id, user_id FROM events WHERE user_id IS NOT NULL
UNION
SELECT project_id, user_id, user_id FROM identity_links
ON CONFLICT (project_id, anonymous_id) DO UPDATE SET user_id = excluded.user_id, seq = DEFAULT
WHERE l.user_id <> excluded.user_id;
