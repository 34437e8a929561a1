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
    // Newest first; rows of one instant by arrival (seq), the latest first. Each core keeps the
    // newest `limit` of its rows by (time, row) (the oldest of them on top of a heap), then the
    // heaps are merged: no row list is made or sorted. Seqs are a cold column (see `cold`), so
    // they are read only for the rows kept and for every row of the oldest instant kept, the one
    // where arrival may disagree with the row order.
    let keep = |heap: &mut BinaryHeap<Reverse<(i64, usize)>>, item: Reverse<(i64, usize)>| {
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
        |heap, row| keep(heap, Reverse((project.ts[row], row))),
        |mut a, b| {
            for item in b {
                keep(&mut a, item);
            }
            a
        },
    )?;
    let full = newest.len() == limit;
    let mut rows: Vec<(i64, usize)> = newest.into_iter().map(|Reverse(key)| key).collect();
    if let Some(edge) = rows.iter().map(|&(ts, _)| ts).min().filter(|_| full) {
        let (at_edge, _) = scan.fold(edge, edge + 1, Vec::new, |v, row| v.push((edge, row)), |mut a, b| {
            a.extend(b);
            a
        })?;
        rows.retain(|&(ts, _)| ts > edge);
        rows.extend(at_edge);
    }
    rows.sort_unstable_by_key(|&(_, row)| row);
    let seqs = project.seq.of_rows(&rows.iter().map(|&(_, row)| row).collect::<Vec<_>>());
    let mut newest: Vec<(i64, i64)> = rows.iter().map(|&(ts, _)| ts).zip(seqs).collect();
    newest.sort_unstable_by(|a, b| b.cmp(a));
    let seqs: Vec<i64> = newest.into_iter().take(limit).map(|(_, seq)| seq).collect();
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
    fn ties_go_by_seq_where_rows_arrived_out_of_seq_order() {
        let store = Rows::new()
            .next_seq(20)
            .event("a", T0 + 60, "x", json!({}))
            .next_seq(5)
            .event("b", T0 + 60, "x", json!({}))
            .next_seq(10)
            .event("c", T0 + 60, "x", json!({}))
            .next_seq(1)
            .event("d", T0 + 120, "x", json!({}))
            .store();
        for (limit, want) in [(1, json!([1])), (2, json!([1, 20])), (3, json!([1, 20, 10])), (9, json!([1, 20, 10, 5]))] {
            assert_eq!(rows(&store, json!({"kind": "events", "limit": limit})), want, "limit {limit}");
        }
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
