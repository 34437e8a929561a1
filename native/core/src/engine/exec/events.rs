//! `events`: the newest rows of the range, as seqs (the service reads them from PostgreSQL).

use std::cmp::Reverse;
use std::collections::BinaryHeap;

use serde_json::{json, Value};

use super::Scan;
use crate::engine::error::QueryError;
use crate::engine::plan::EventsQuery;

pub(super) fn run(scan: &Scan, q: &EventsQuery) -> Result<(Value, u64), QueryError> {
    let project = scan.project;
    let limit = q.limit.get();
    // Newest first; rows of one instant by arrival, the latest first. Each core keeps the newest
    // `limit` of its rows (the oldest of them on top of a heap), then the heaps are merged: no
    // row list is made or sorted.
    let keep = |heap: &mut BinaryHeap<Reverse<(i64, i64)>>, item: Reverse<(i64, i64)>| {
        if heap.len() < limit {
            heap.push(item);
        } else if heap.peek().is_some_and(|oldest| item < *oldest) {
            heap.pop();
            heap.push(item);
        }
    };
    let (newest, scanned) = scan.fold(
        scan.from_us,
        scan.to_us,
        || BinaryHeap::with_capacity(limit + 1),
        |heap, row| keep(heap, Reverse((project.ts[row], project.seq[row]))),
        |mut a, b| {
            for item in b {
                keep(&mut a, item);
            }
            a
        },
    )?;
    let mut newest: Vec<(i64, i64)> = newest.into_iter().map(|Reverse(key)| key).collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    let seqs: Vec<i64> = newest.into_iter().map(|(_, seq)| seq).collect();
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
