//! `realtime`: who is on the site now. Distinct persons with an event in the last five minutes
//! (whatever the query's `time_range`), and the top pages they viewed then.

use rustc_hash::FxHashMap;
use serde_json::{json, Value};

use super::Scan;
use crate::engine::error::QueryError;
use crate::engine::table::hot_index;

/// How far back "now" reaches.
pub const REALTIME_US: i64 = 5 * 60 * 1_000_000;
/// Pages listed.
const TOP_PAGES: usize = 10;

pub(super) fn run(scan: &Scan) -> Result<(Value, u64), QueryError> {
    let (rows, scanned) = scan.select(scan.now_us - REALTIME_US, scan.now_us + 1)?;
    let mut persons: Vec<u32> = scan.persons(&rows);
    let pageview = scan.project.strings.get("$pageview");
    let path = hot_index("path").expect("path is a hot column");
    let mut views: Vec<(u32, u32)> = rows
        .iter()
        .zip(&persons)
        .filter(|(&r, _)| Some(scan.project.event.get(r as usize)) == pageview)
        .map(|(&r, &p)| (scan.project.hot[path].get(r as usize), p))
        .collect();
    persons.sort_unstable();
    persons.dedup();
    views.sort_unstable();
    views.dedup();
    let mut per_page: FxHashMap<u32, u64> = FxHashMap::default();
    for (page, _) in views {
        *per_page.entry(page).or_default() += 1;
    }
    let label = |code: u32| match code {
        0 => super::NONE_KEY.to_string(),
        c => scan.project.strings.resolve(c).to_string(),
    };
    let mut pages: Vec<(String, u64)> = per_page.into_iter().map(|(k, n)| (label(k), n)).collect();
    pages.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    pages.truncate(TOP_PAGES);
    let pages: Vec<Value> = pages
        .into_iter()
        .map(|(key, visitors)| json!({"key": key, "visitors": visitors}))
        .collect();
    Ok((
        json!([{"visitors": persons.len(), "pages": pages}]),
        scanned,
    ))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rows, Rows, NOW};
    use serde_json::json;

    #[test]
    fn the_last_five_minutes_whatever_the_range() {
        let store = Rows::new()
            .pageview(NOW - 400, "old", "/gone")
            .pageview(NOW - 200, "a", "/x")
            .pageview(NOW - 100, "a", "/x")
            .pageview(NOW - 60, "b", "/x")
            .pageview(NOW - 50, "b", "/y")
            .event("click", NOW - 10, "c", json!({}))
            .store();
        let body = json!({"kind": "realtime", "time_range": {"last": "1h"}});
        assert_eq!(
            rows(&store, body),
            json!([{"visitors": 3, "pages": [{"key": "/x", "visitors": 2}, {"key": "/y", "visitors": 1}]}])
        );
    }
}
