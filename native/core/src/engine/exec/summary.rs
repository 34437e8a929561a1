//! `summary`: total events over the range, the persons active in its last 1, 7 and 30 days, and
//! the ten most frequent events.

use rustc_hash::FxHashMap;
use serde_json::{json, Value};

use super::Scan;
use crate::engine::error::QueryError;
use crate::engine::plan::DAY_US;

const TOP_EVENTS: usize = 10;

pub(super) fn run(scan: &Scan) -> Result<(Value, u64), QueryError> {
    let (rows, scanned) = scan.select_range()?;
    let actives = |days: i64| -> Result<(usize, u64), QueryError> {
        let (rows, scanned) = scan.select(scan.to_us - days * DAY_US, scan.to_us)?;
        let mut persons = scan.persons(&rows);
        persons.sort_unstable();
        persons.dedup();
        Ok((persons.len(), scanned))
    };
    let (dau, _) = actives(1)?;
    let (wau, _) = actives(7)?;
    let (mau, more) = actives(30)?;
    let mut counts: FxHashMap<u32, u64> = FxHashMap::default();
    for &r in &rows {
        *counts.entry(scan.project.event.get(r as usize)).or_default() += 1;
    }
    let mut top: Vec<(&str, u64)> = counts
        .into_iter()
        .map(|(code, n)| (scan.project.strings.resolve(code), n))
        .collect();
    top.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    top.truncate(TOP_EVENTS);
    let top: Vec<Value> = top
        .into_iter()
        .map(|(key, value)| json!({"key": key, "value": value}))
        .collect();
    let row =
        json!({"total_events": rows.len(), "dau": dau, "wau": wau, "mau": mau, "top_events": top});
    Ok((json!([row]), scanned.max(more)))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{between, rows, Rows, DAY, HOUR, T0};
    use serde_json::json;

    #[test]
    fn totals_actives_and_top_events() {
        let store = Rows::new()
            .event("b", T0 + HOUR, "u1", json!({}))
            .event("a", T0 + 5 * DAY, "u2", json!({}))
            .event("a", T0 + 9 * DAY, "u3", json!({}))
            .event("a", T0 + 9 * DAY + HOUR, "u3", json!({}))
            .store();
        let body = json!({"kind": "summary", "time_range": between(T0, T0 + 10 * DAY)});
        assert_eq!(
            rows(&store, body),
            json!([{"total_events": 4, "dau": 1, "wau": 2, "mau": 3,
                    "top_events": [{"key": "a", "value": 3}, {"key": "b", "value": 1}]}])
        );
    }
}
