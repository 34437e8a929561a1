//! `aggregate`: a measure per calendar bucket (of the query's time zone) and group.
//!
//! Every bucket of the range is answered, empty ones too (`count` and `unique_users` as 0,
//! value measures only where they have a value); buckets are keyed by the instant they start,
//! so a DST fall-back hour is two buckets.

use std::collections::HashMap;

use rayon::prelude::*;
use serde_json::{json, Map, Value};

use super::groups::Groups;
use super::{boundary_index, bucket_span, number, Scan};
use crate::engine::error::QueryError;
use crate::engine::plan::{AggregateQuery, Measure};
use crate::query::aggregate::{aggregate, Measure as Kernel};
use crate::query::bitsets::Bitsets;
use crate::query::timebucket::{bucket_start, next_bucket_start, Unit};

/// The kernel's measure.
pub(super) fn kernel(measure: &Measure) -> Kernel {
    match measure {
        Measure::Count => Kernel::Count,
        Measure::UniqueUsers => Kernel::UniqueUsers,
        Measure::Sum(_) => Kernel::Sum,
        Measure::Avg(_) => Kernel::Avg,
        Measure::Min(_) => Kernel::Min,
        Measure::Max(_) => Kernel::Max,
        Measure::Percentile(q) => Kernel::Percentile(q.p.0),
        // Counted by `actives`; the plan allows them nowhere else.
        Measure::Dau | Measure::Wau | Measure::Mau => Kernel::UniqueUsers,
    }
}

/// The columns a measure reads: persons for unique_users, values for the property measures;
/// the kernel ignores the other, so it stays empty.
pub(super) fn inputs(scan: &Scan, rows: &[u32], measure: &Measure) -> (Vec<u32>, Vec<f64>) {
    let persons = match measure {
        Measure::UniqueUsers => scan.persons(rows),
        _ => Vec::new(),
    };
    let values = match measure.prop() {
        Some(name) => {
            let col = scan.project.prop_column(name.as_str());
            rows.par_iter().map(|&r| col.num(r as usize)).collect()
        }
        None => Vec::new(),
    };
    (persons, values)
}

/// Every calendar bucket start of `[from, to)`.
pub(super) fn buckets(scan: &Scan, unit: Unit, from: i64, to: i64) -> Vec<i64> {
    let mut starts = Vec::new();
    let mut at = bucket_start(from, scan.tz, unit);
    while at < to {
        starts.push(at);
        at = match next_bucket_start(at, scan.tz, unit) {
            Some(next) if next > at => next,
            _ => at + bucket_span(unit),
        };
    }
    starts
}

pub(super) fn run(scan: &Scan, q: &AggregateQuery) -> Result<(Value, u64), QueryError> {
    if let Some(days) = q.measure.active_days() {
        return super::actives::run(scan, q, days);
    }
    let unit = q.time_bucket.map(|b| b.unit());
    let mut groups = Groups::new(scan, &q.group_by.0);
    let starts = unit.map_or_else(Vec::new, |unit| {
        buckets(scan, unit, scan.from_us, scan.to_us)
    });
    let measure = kernel(&q.measure);
    let (results, scanned) =
        match ungrouped(scan, &q.group_by.0, unit.is_some(), &starts, &measure)? {
            Some(folded) => folded,
            None => grouped(scan, q, &mut groups, unit, &starts)?,
        };
    let out = answer(scan, &groups, unit, &starts, &results);
    Ok((Value::Array(out), scanned))
}

/// Count or unique users per bucket of a query with no group, folded block by block into a count
/// (or a bitmap of persons) per bucket: no list of rows, keys or persons is made. None when the
/// query groups, measures a property, or its bitmaps would be large (many buckets of many persons).
fn ungrouped(
    scan: &Scan,
    group_by: &[crate::engine::plan::GroupBy],
    bucketed: bool,
    starts: &[i64],
    measure: &Kernel,
) -> Result<Option<(HashMap<u64, Option<f64>>, u64)>, QueryError> {
    const MAX_BITMAPS: usize = 16 << 20;
    if !group_by.is_empty()
        || !matches!(measure, Kernel::Count | Kernel::UniqueUsers)
        || (bucketed && starts.is_empty())
    {
        return Ok(None);
    }
    let buckets = starts.len().max(1);
    let bucket = |row: usize| {
        if starts.is_empty() {
            0
        } else {
            boundary_index(starts, scan.project.ts[row])
        }
    };
    if matches!(measure, Kernel::Count) {
        let (counts, scanned) = scan.fold(
            scan.from_us,
            scan.to_us,
            || vec![0u64; buckets],
            |c, row| c[bucket(row)] += 1,
            |mut a, b| {
                a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
                a
            },
        )?;
        return Ok(Some((to_results(counts), scanned)));
    }
    let persons = scan.project.person_of.len();
    if buckets * Bitsets::words(persons) * 8 > MAX_BITMAPS {
        return Ok(None);
    }
    let (seen, scanned) = scan.fold(
        scan.from_us,
        scan.to_us,
        || Bitsets::new(buckets, persons),
        |bits, row| bits.insert(bucket(row), scan.person(row) as usize),
        Bitsets::union,
    )?;
    Ok(Some((to_results(seen.counts()), scanned)))
}

/// A value per bucket (group 0) as the answer's cells.
fn to_results(per_bucket: Vec<u64>) -> HashMap<u64, Option<f64>> {
    per_bucket
        .into_iter()
        .enumerate()
        .map(|(b, n)| ((b as u64) << 32, Some(n as f64)))
        .collect()
}

/// Any measure, any groups: the rows listed, each given a key (bucket and group), then the kernel.
fn grouped(
    scan: &Scan,
    q: &AggregateQuery,
    groups: &mut Groups,
    unit: Option<Unit>,
    starts: &[i64],
) -> Result<(HashMap<u64, Option<f64>>, u64), QueryError> {
    let (rows, scanned) = scan.select_range()?;
    let group_ids: Vec<u32> = groups.ids(&rows);
    // A row's key: its bucket (a binary search over the bucket starts, no time zone math per
    // row) and its group.
    let keys: Vec<u64> = rows
        .par_iter()
        .zip(&group_ids)
        .map(|(&r, &g)| {
            let b = match unit {
                Some(_) => boundary_index(&starts, scan.project.ts[r as usize]) as u64,
                None => 0,
            };
            (b << 32) | u64::from(g)
        })
        .collect();
    let (persons, values) = inputs(scan, &rows, &q.measure);
    let measure = kernel(&q.measure);
    let mut results: HashMap<u64, Option<f64>> = aggregate(&keys, &persons, &values, &measure)
        .into_iter()
        .collect();
    if matches!(measure, Kernel::Count | Kernel::UniqueUsers) {
        let mut group_set = group_ids.clone();
        group_set.sort_unstable();
        group_set.dedup();
        if group_set.is_empty() && !groups.active() {
            group_set.push(0);
        }
        let bucket_count = if unit.is_some() {
            starts.len() as u64
        } else {
            1
        };
        for b in 0..bucket_count {
            for &g in &group_set {
                results.entry((b << 32) | u64::from(g)).or_insert(Some(0.0));
            }
        }
    }
    Ok((results, scanned))
}

/// The answer's rows: by bucket, then group.
fn answer(
    scan: &Scan,
    groups: &Groups,
    unit: Option<Unit>,
    starts: &[i64],
    results: &HashMap<u64, Option<f64>>,
) -> Vec<Value> {
    let mut keys: Vec<u64> = results.keys().copied().collect();
    keys.sort_by_key(|&k| (k >> 32, groups.labels((k & 0xffff_ffff) as u32)));
    keys.into_iter()
        .map(|k| {
            let mut row = Map::new();
            if unit.is_some() {
                row.insert("bucket".into(), json!(scan.iso(starts[(k >> 32) as usize])));
            }
            if groups.active() {
                row.insert("group".into(), groups.json((k & 0xffff_ffff) as u32));
            }
            row.insert("value".into(), number(results[&k]));
            Value::Object(row)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::super::testing::{between, rows, Rows, DAY, HOUR, T0};
    use serde_json::json;

    fn sales() -> crate::engine::table::Store {
        Rows::new()
            .event("buy", T0 + HOUR, "a", json!({"plan": "pro", "amount": 10}))
            .event(
                "buy",
                T0 + 2 * HOUR,
                "a",
                json!({"plan": "pro", "amount": "30"}),
            )
            .event(
                "buy",
                T0 + DAY + HOUR,
                "b",
                json!({"plan": "free", "amount": "n/a"}),
            )
            .event("view", T0 + DAY + 2 * HOUR, "b", json!({}))
            .link("b", "a")
            .store()
    }

    #[test]
    fn count_and_unique_persons_over_the_range() {
        let store = sales();
        assert_eq!(
            rows(&store, json!({"kind": "aggregate"})),
            json!([{"value": 4}])
        );
        // b is linked to a: one person.
        let unique = json!({"kind": "aggregate", "measure": "unique_users"});
        assert_eq!(rows(&store, unique), json!([{"value": 1}]));
    }

    #[test]
    fn daily_buckets_list_empty_days_as_zero() {
        let store = sales();
        let body = json!({"kind": "aggregate", "time_bucket": "1d", "time_range": between(T0, T0 + 3 * DAY),
                          "filter": {"event": {"eq": "buy"}}});
        assert_eq!(
            rows(&store, body),
            json!([
                {"bucket": "2026-01-05T00:00:00+00:00", "value": 2},
                {"bucket": "2026-01-06T00:00:00+00:00", "value": 1},
                {"bucket": "2026-01-07T00:00:00+00:00", "value": 0}
            ])
        );
    }

    #[test]
    fn buckets_follow_the_time_zone() {
        let store = sales();
        // New York is 5 hours behind: the first two sales fall on the 4th there.
        let body = json!({"kind": "aggregate", "time_bucket": "1d", "timezone": "America/New_York",
                          "time_range": between(T0, T0 + 2 * DAY)});
        assert_eq!(
            rows(&store, body),
            json!([
                {"bucket": "2026-01-04T00:00:00-05:00", "value": 2},
                {"bucket": "2026-01-05T00:00:00-05:00", "value": 2},
                {"bucket": "2026-01-06T00:00:00-05:00", "value": 0}
            ])
        );
    }

    #[test]
    fn value_measures_skip_what_is_not_a_number() {
        let store = sales();
        let value = |measure| {
            rows(&store, json!({"kind": "aggregate", "measure": measure}))[0]["value"].clone()
        };
        assert_eq!(value(json!({"sum": "amount"})), json!(40));
        assert_eq!(value(json!({"avg": "amount"})), json!(20));
        assert_eq!(value(json!({"min": "amount"})), json!(10));
        assert_eq!(
            value(json!({"percentile": {"prop": "amount", "p": 0.5}})),
            json!(20)
        );
        assert_eq!(value(json!({"max": "missing"})), json!(null));
    }

    #[test]
    fn groups_sort_by_label_with_the_groupless_first() {
        let store = sales();
        let body = json!({"kind": "aggregate", "group_by": [{"prop": "plan"}]});
        assert_eq!(
            rows(&store, body),
            json!([
                {"group": {"plan": null}, "value": 1},
                {"group": {"plan": "free"}, "value": 1},
                {"group": {"plan": "pro"}, "value": 2}
            ])
        );
    }
}
