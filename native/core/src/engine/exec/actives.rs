//! `dau` / `wau` / `mau` (aggregate measures with daily buckets): per bucket, the persons with an
//! event in the 1 / 7 / 30 local days ending at the bucket's end. The look-back reaches before
//! the range, as PostHog and Mixpanel count them.

use serde_json::{json, Map, Value};

use super::aggregate::buckets;
use super::groups::Groups;
use super::{boundary_index, number, Scan};
use crate::engine::error::QueryError;
use crate::engine::plan::AggregateQuery;
use crate::query::timebucket::{period_index, period_start, Unit};

pub(super) fn run(scan: &Scan, q: &AggregateQuery, days: u32) -> Result<(Value, u64), QueryError> {
    let back = days as usize - 1;
    let first_day = period_index(scan.from_us, scan.tz, Unit::Day);
    let lookback = period_start(first_day - back as i32, scan.tz, Unit::Day);
    // Day starts from the first look-back day; the answer's buckets are those from `back` on.
    let starts = buckets(scan, Unit::Day, lookback, scan.to_us);
    let (rows, scanned) = scan.select(lookback, scan.to_us)?;
    let mut groups = Groups::new(scan, &q.group_by.0);
    let mut keys: Vec<(u32, u32, u32)> = rows
        .iter()
        .map(|&r| {
            let row = r as usize;
            let day = boundary_index(&starts, scan.project.ts[row]) as u32;
            (groups.id(row), scan.person(row), day)
        })
        .collect();
    keys.sort_unstable();
    keys.dedup();
    // Per group, +1 / -1 at the day buckets where a person's activity starts / stops counting.
    let width = starts.len() + 1;
    let mut group_ids: Vec<u32> = keys.iter().map(|k| k.0).collect();
    group_ids.dedup();
    if group_ids.is_empty() && !groups.active() {
        group_ids.push(0);
    }
    let mut diffs: Vec<Vec<i64>> = vec![vec![0; width]; group_ids.len()];
    let mut slot = 0;
    // The (group, person) last seen, and the last day bucket already counting them.
    let mut covered: Option<(u32, u32, usize)> = None;
    for &(g, person, day) in &keys {
        while group_ids[slot] != g {
            slot += 1;
        }
        let day = day as usize;
        let last = (day + back).min(starts.len() - 1);
        let first = match covered {
            Some((cg, cp, end)) if (cg, cp) == (g, person) => day.max(end + 1),
            _ => day,
        };
        if first <= last {
            diffs[slot][first] += 1;
            diffs[slot][last + 1] -= 1;
            covered = Some((g, person, last));
        }
    }
    let mut order: Vec<usize> = (0..group_ids.len()).collect();
    order.sort_by_key(|&i| groups.labels(group_ids[i]));
    let mut out = Vec::new();
    let mut totals: Vec<i64> = vec![0; group_ids.len()];
    for (b, &start) in starts.iter().enumerate() {
        for (i, diff) in diffs.iter().enumerate() {
            totals[i] += diff[b];
        }
        if b < back {
            continue;
        }
        for &i in &order {
            let mut row = Map::new();
            row.insert("bucket".into(), json!(scan.iso(start)));
            if groups.active() {
                row.insert("group".into(), groups.json(group_ids[i]));
            }
            row.insert("value".into(), number(Some(totals[i] as f64)));
            out.push(Value::Object(row));
        }
    }
    Ok((Value::Array(out), scanned))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{between, rows, Rows, DAY, HOUR, T0};
    use serde_json::json;

    #[test]
    fn actives_look_back_before_the_range() {
        let store = Rows::new()
            .event("x", T0 - 3 * DAY, "a", json!({}))
            .event("x", T0 + HOUR, "b", json!({}))
            .event("x", T0 + DAY + HOUR, "b", json!({}))
            .event("x", T0 + DAY + 2 * HOUR, "c", json!({}))
            .store();
        let body = |measure: &str| {
            json!({"kind": "aggregate", "measure": measure, "time_bucket": "1d",
                   "time_range": between(T0, T0 + 3 * DAY)})
        };
        let values = |measure: &str| -> Vec<i64> {
            rows(&store, body(measure))
                .as_array()
                .unwrap()
                .iter()
                .map(|r| r["value"].as_i64().unwrap())
                .collect()
        };
        assert_eq!(values("dau"), vec![1, 2, 0]);
        assert_eq!(values("wau"), vec![2, 3, 3]);
        assert_eq!(values("mau"), vec![2, 3, 3]);
        let first = &rows(&store, body("dau"))[0];
        assert_eq!(first["bucket"], json!("2026-01-05T00:00:00+00:00"));
    }
}
