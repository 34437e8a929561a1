//! `events`: the newest rows of the range, as seqs (the service reads them from PostgreSQL).

use serde_json::{json, Value};

use super::Scan;
use crate::engine::error::QueryError;
use crate::engine::plan::EventsQuery;

pub(super) fn run(scan: &Scan, q: &EventsQuery) -> Result<(Value, u64), QueryError> {
    let project = scan.project;
    let (mut rows, scanned) = scan.select_range()?;
    // Newest first; rows of one instant by arrival, the latest first.
    rows.sort_unstable_by_key(|&r| {
        std::cmp::Reverse((project.ts[r as usize], project.seq[r as usize]))
    });
    rows.truncate(q.limit.get());
    let seqs: Vec<i64> = rows.iter().map(|&r| project.seq[r as usize]).collect();
    Ok((json!(seqs), scanned))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rows, Rows, T0};
    use serde_json::json;

    #[test]
    fn newest_first_ties_by_arrival_limited() {
        let store = Rows::new()
            .event("a", T0, "x", json!({}))
            .event("b", T0 + 60, "x", json!({}))
            .event("c", T0 + 60, "y", json!({}))
            .event("d", T0 - 60, "y", json!({}))
            .store();
        assert_eq!(rows(&store, json!({"kind": "events"})), json!([3, 2, 1, 4]));
        assert_eq!(
            rows(&store, json!({"kind": "events", "limit": 2})),
            json!([3, 2])
        );
    }

    #[test]
    fn the_filter_applies() {
        let store = Rows::new()
            .event("a", T0, "x", json!({"plan": "pro"}))
            .event("a", T0 + 1, "x", json!({"plan": "free"}))
            .store();
        let body = json!({"kind": "events", "filter": {"prop": {"plan": {"eq": "pro"}}}});
        assert_eq!(rows(&store, body), json!([1]));
    }
}
