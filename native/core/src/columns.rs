//! The columns of the `events` table that ingest writes, declared once.
//!
//! `encode` writes COPY rows in this order, the query engine holds `HOT_COLUMNS` as interned
//! columns, and the Python side reads both through `_native` to build its SQL (the COPY column
//! list, the engine's tail read, the events answer). The table itself is created by the
//! migrations; a test compares it with this list.

/// The columns ingest writes, in COPY order (`seq` is the table's own).
pub const EVENT_COLUMNS: &[&str] = &[
    "project_id",
    "message_id",
    "event",
    "ts",
    "received_at",
    "distinct_id",
    "anonymous_id",
    "user_id",
    // The hot columns, normalised at ingest (`enrich`), from here …
    "session_id",
    "url",
    "path",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "browser",
    "os",
    "device_type",
    "country",
    "language",
    "timezone",
    // … to here.
    "ip_prefix",
    "library",
    "properties",
    "context",
    // An `$error` event's group (`fingerprint`); NULL for every other event.
    "fingerprint",
];

const FIRST_HOT: usize = 8;
const HOT_COUNT: usize = 15;

/// The text columns the query engine keeps per row (interned), that a filter or a `group_by`
/// `{"prop": name}` reads before the property of the same name: a slice of `EVENT_COLUMNS`.
pub const HOT_COLUMNS: &[&str] = EVENT_COLUMNS.split_at(FIRST_HOT).1.split_at(HOT_COUNT).0;

/// Position of a hot column in `HOT_COLUMNS`.
pub fn hot_index(name: &str) -> Option<usize> {
    HOT_COLUMNS.iter().position(|c| *c == name)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hot_columns_are_session_id_to_timezone() {
        assert_eq!(HOT_COLUMNS.first(), Some(&"session_id"));
        assert_eq!(HOT_COLUMNS.last(), Some(&"timezone"));
        assert_eq!(EVENT_COLUMNS[FIRST_HOT + HOT_COUNT], "ip_prefix");
        assert_eq!(hot_index("path"), Some(2));
        assert_eq!(hot_index("library"), None);
    }

    #[test]
    fn every_column_is_named_once() {
        let mut names = EVENT_COLUMNS.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), EVENT_COLUMNS.len());
    }
}
