//! `breakdown`: the top `limit` values of a property by a measure, ties by key; rows without
//! the property are `(none)`.

use serde_json::{json, Value};

use super::aggregate::{inputs, kernel};
use super::groups::Groups;
use super::{number, Scan, NONE_KEY};
use crate::engine::error::QueryError;
use crate::engine::plan::{BreakdownQuery, GroupBy, Measure};
use crate::query::aggregate::aggregate;

/// Counting straight into an array of value codes pays when it is at most this wide.
const DENSE_COUNT_MAX: usize = 1 << 18;

pub(super) fn run(scan: &Scan, q: &BreakdownQuery) -> Result<(Value, u64), QueryError> {
    let groups = Groups::new(scan, &[GroupBy::Prop(q.prop.clone())]);
    if let (Measure::Count, Some(width)) = (&q.measure, groups.dense_width()) {
        if width <= DENSE_COUNT_MAX {
            return count_by_code(scan, q, &groups, width);
        }
    }
    let (rows, scanned) = scan.select_range()?;
    let mut groups = groups;
    let keys: Vec<u64> = groups.ids(&rows).into_iter().map(u64::from).collect();
    let (persons, values) = inputs(scan, &rows, &q.measure);
    let ranked: Vec<(String, Option<f64>)> =
        aggregate(&keys, &persons, &values, &kernel(&q.measure))
            .into_iter()
            .map(|(k, v)| {
                let label = groups.labels(k as u32)[0].unwrap_or(NONE_KEY);
                (label.to_string(), v)
            })
            .collect();
    Ok((top(ranked, q), scanned))
}

/// `count` by one value: each row counted into an array of value codes, in one pass on every
/// core, no row list.
fn count_by_code(scan: &Scan, q: &BreakdownQuery, groups: &Groups, width: usize) -> Result<(Value, u64), QueryError> {
    let (counts, scanned) = scan.fold(
        scan.from_us,
        scan.to_us,
        || vec![0u64; width],
        |counts, row| counts[groups.dense_code(row)] += 1,
        |mut a, b| {
            a.iter_mut().zip(b).for_each(|(x, y)| *x += y);
            a
        },
    )?;
    let ranked = counts
        .iter()
        .enumerate()
        .filter(|(_, &n)| n > 0)
        .map(|(code, &n)| (groups.dense_label(code).unwrap_or(NONE_KEY).to_string(), Some(n as f64)))
        .collect();
    Ok((top(ranked, q), scanned))
}

/// The top `limit` by value, ties by key.
fn top(mut ranked: Vec<(String, Option<f64>)>, q: &BreakdownQuery) -> Value {
    ranked.sort_by(|a, b| {
        let (va, vb) = (
            a.1.unwrap_or(f64::NEG_INFINITY),
            b.1.unwrap_or(f64::NEG_INFINITY),
        );
        vb.partial_cmp(&va)
            .unwrap_or(std::cmp::Ordering::Equal)
            .then_with(|| a.0.cmp(&b.0))
    });
    ranked.truncate(q.limit.get());
    Value::Array(
        ranked
            .into_iter()
            .map(|(k, v)| json!({"key": k, "value": number(v)}))
            .collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rows, Rows, T0};
    use serde_json::json;

    fn plans() -> crate::engine::table::Store {
        let mut data = Rows::new();
        for (i, plan) in ["pro", "free", "pro", "team", "free", "pro"]
            .iter()
            .enumerate()
        {
            data = data.event(
                "signup",
                T0 + i as i64,
                &format!("p{i}"),
                json!({"plan": plan, "seats": i}),
            );
        }
        data.event("signup", T0 + 9, "p9", json!({})).store()
    }

    #[test]
    fn top_values_by_count_ties_by_key_absent_as_none() {
        let store = plans();
        assert_eq!(
            rows(&store, json!({"kind": "breakdown", "prop": "plan"})),
            json!([
                {"key": "pro", "value": 3},
                {"key": "free", "value": 2},
                {"key": "(none)", "value": 1},
                {"key": "team", "value": 1}
            ])
        );
        assert_eq!(
            rows(
                &store,
                json!({"kind": "breakdown", "prop": "plan", "limit": 1})
            ),
            json!([{"key": "pro", "value": 3}])
        );
    }

    #[test]
    fn by_a_value_measure_the_valueless_come_last() {
        let store = plans();
        let body = json!({"kind": "breakdown", "prop": "plan", "measure": {"max": "seats"}});
        assert_eq!(
            rows(&store, body),
            json!([
                {"key": "pro", "value": 5},
                {"key": "free", "value": 4},
                {"key": "team", "value": 3},
                {"key": "(none)", "value": null}
            ])
        );
    }

    #[test]
    fn a_hot_column_and_its_property_fallback_are_one_key() {
        let store = Rows::new()
            .event_with("a", T0, "x", &[("path", "/b")], json!({}))
            .event("a", T0 + 1, "y", json!({"path": "/b"}))
            .store();
        assert_eq!(
            rows(&store, json!({"kind": "breakdown", "prop": "path"})),
            json!([{"key": "/b", "value": 2}])
        );
    }
}
