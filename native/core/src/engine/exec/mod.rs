//! Running a plan: choose rows (project, time range, filter), resolve persons, and hand columns
//! to the scan kernels of `crate::query`, one module per kind. Answers are JSON rows in the
//! shapes the README documents.

mod actives;
mod aggregate;
mod breakdown;
mod events;
mod funnel;
mod groups;
mod path;
mod realtime;
mod retention;
mod summary;
#[cfg(test)]
pub(crate) mod testing;
pub mod web;

use chrono::TimeZone;
use rayon::prelude::*;
use serde_json::{json, Value};

use super::error::{Code, QueryError};
use super::filter::Compiled;
use super::plan::{Filter, Kind, Plan};
use super::table::{Project, Store};
use crate::query::timebucket::{Tz, Unit};

/// A person's events split into sessions at this much inactivity (paths).
pub const SESSION_GAP_US: i64 = 30 * 60 * 1_000_000;
/// Rows a core scans at a time.
const SCAN_BLOCK: usize = 1 << 16;
/// The key of rows without the property (breakdown).
const NONE_KEY: &str = "(none)";

/// A query's answer: the rows of its kind, and how many rows of the range it examined.
#[derive(Debug, Clone, PartialEq)]
pub struct Answer {
    pub kind: &'static str,
    pub rows: Value,
    /// The same rows over the earlier range (`web` with `compare`).
    pub comparison: Option<Value>,
    pub rows_scanned: u64,
}

pub fn execute(store: &Store, plan: &Plan) -> Result<Answer, QueryError> {
    let empty = Project::default();
    let project = store.projects.get(&plan.project).unwrap_or(&empty);
    let scan = Scan {
        project,
        from_us: plan.from_us,
        to_us: plan.to_us,
        now_us: plan.now_us,
        tz: plan.tz,
        filter: plan.filter.as_ref().map(|f| Compiled::new(f, project)),
        filter_source: plan.filter.as_ref(),
        max_rows: plan.max_rows_scanned,
    };
    if let Kind::Web(q) = &plan.kind {
        let (rows, comparison, rows_scanned) = web::run(&scan, q)?;
        return Ok(Answer {
            kind: plan.kind.name(),
            rows,
            comparison,
            rows_scanned,
        });
    }
    let (rows, rows_scanned) = match &plan.kind {
        Kind::Events(q) => events::run(&scan, q)?,
        Kind::Aggregate(q) => aggregate::run(&scan, q)?,
        Kind::Breakdown(q) => breakdown::run(&scan, q)?,
        Kind::Funnel(q) => funnel::run(&scan, q)?,
        Kind::Retention(q) => retention::run(&scan, q)?,
        Kind::Path(q) => path::run(&scan, q)?,
        Kind::Realtime(_) => realtime::run(&scan)?,
        Kind::Summary(_) => summary::run(&scan)?,
        Kind::Web(_) => unreachable!("answered above"),
    };
    Ok(Answer {
        kind: plan.kind.name(),
        rows,
        comparison: None,
        rows_scanned,
    })
}

/// One query's view of one project: its range, time zone, compiled filter and row budget.
struct Scan<'p> {
    project: &'p Project,
    from_us: i64,
    to_us: i64,
    now_us: i64,
    tz: Tz,
    filter: Option<Compiled>,
    /// The filter as the query wrote it (kinds that read it their own way compile it again).
    filter_source: Option<&'p Filter>,
    /// A query examining more rows answers `timeout`; 0 = no limit.
    max_rows: u64,
}

impl Scan<'_> {
    /// Rows in `[lo, hi)` passing the filter, and how many rows of that range were examined.
    fn select(&self, lo: i64, hi: i64) -> Result<(Vec<u32>, u64), QueryError> {
        self.scan_map(lo, hi, |row| Some(row as u32))
    }

    /// What `take` makes of each row in `[lo, hi)` passing the filter (rows it gives None are
    /// left out), in row order, and how many rows of that range were examined.
    fn scan_map<T: Send>(
        &self,
        lo: i64,
        hi: i64,
        take: impl Fn(usize) -> Option<T> + Sync + Send,
    ) -> Result<(Vec<T>, u64), QueryError> {
        self.scan_map_where(lo, hi, None::<fn(usize) -> bool>, take)
    }

    /// `scan_map` of the rows `keep` also takes (see `fold_where`).
    fn scan_map_where<T: Send, K: Fn(usize) -> bool + Sync + Send>(
        &self,
        lo: i64,
        hi: i64,
        keep: Option<K>,
        take: impl Fn(usize) -> Option<T> + Sync + Send,
    ) -> Result<(Vec<T>, u64), QueryError> {
        // Rayon folds stretches of blocks in order and reduces neighbours in order.
        self.fold_where(
            lo,
            hi,
            keep,
            Vec::new,
            |out, row| out.extend(take(row)),
            |mut a, b| {
                a.extend(b);
                a
            },
        )
    }

    /// Every row in `[lo, hi)` passing the filter folded into accumulators (one per stretch of
    /// blocks a core takes, made by `init`), then the accumulators merged in row order; and how
    /// many rows of that range were examined. Blocks of rows are scanned on every core.
    fn fold<A: Send>(
        &self,
        lo: i64,
        hi: i64,
        init: impl Fn() -> A + Sync + Send,
        step: impl Fn(&mut A, usize) + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> Result<(A, u64), QueryError> {
        self.fold_where(lo, hi, None::<fn(usize) -> bool>, init, step, merge)
    }

    /// `fold` of the rows `keep` also takes (a kind's own cheap test, such as "one of these
    /// events"), tested with the range and the filter, without a branch, before any step.
    fn fold_where<A: Send, K: Fn(usize) -> bool + Sync + Send>(
        &self,
        lo: i64,
        hi: i64,
        keep: Option<K>,
        init: impl Fn() -> A + Sync + Send,
        step: impl Fn(&mut A, usize) + Sync + Send,
        merge: impl Fn(A, A) -> A + Sync + Send,
    ) -> Result<(A, u64), QueryError> {
        let project = self.project;
        let n = project.len();
        // A block's rows are selected first (in range, then passing the filter) into a list,
        // without a branch on either test, and only then stepped through.
        let (acc, in_range, _) = (0..n.div_ceil(SCAN_BLOCK))
            .into_par_iter()
            .fold(
                || (init(), 0u64, vec![0u32; SCAN_BLOCK]),
                |(mut acc, mut in_range, mut selected), block| {
                    let start = block * SCAN_BLOCK;
                    let end = (start + SCAN_BLOCK).min(n);
                    let mut k = 0;
                    for (row, &ts) in (start..end).zip(&project.ts[start..end]) {
                        selected[k] = row as u32;
                        k += usize::from((ts >= lo) & (ts < hi));
                    }
                    in_range += k as u64;
                    if let Some(filter) = &self.filter {
                        k = filter.retain(project, &mut selected[..k]);
                    }
                    if let Some(keep) = &keep {
                        k = crate::engine::filter::keep(&mut selected[..k], keep);
                    }
                    for &row in &selected[..k] {
                        step(&mut acc, row as usize);
                    }
                    (acc, in_range, selected)
                },
            )
            .reduce(|| (init(), 0, Vec::new()), |a, b| (merge(a.0, b.0), a.1 + b.1, Vec::new()));
        self.check_budget(in_range)?;
        Ok((acc, in_range))
    }

    /// A query that would examine `rows` rows over the budget answers `timeout`.
    fn check_budget(&self, rows: u64) -> Result<(), QueryError> {
        if self.max_rows > 0 && rows > self.max_rows {
            return Err(QueryError::new(
                Code::Timeout,
                format!(
                    "the query would scan {rows} rows, over the budget of {}",
                    self.max_rows
                ),
            ));
        }
        Ok(())
    }

    fn filter_source(&self) -> Option<&Filter> {
        self.filter_source
    }

    /// The rows of the query's own range.
    fn select_range(&self) -> Result<(Vec<u32>, u64), QueryError> {
        self.select(self.from_us, self.to_us)
    }

    fn compile(&self, filter: &Filter) -> Compiled {
        Compiled::new(filter, self.project)
    }

    /// The person (dense id code) a row belongs to, links resolved.
    fn person(&self, row: usize) -> u32 {
        self.project.person_of[self.project.distinct[row] as usize]
    }

    fn persons(&self, rows: &[u32]) -> Vec<u32> {
        rows.par_iter().map(|&r| self.person(r as usize)).collect()
    }

    fn times(&self, rows: &[u32]) -> Vec<i64> {
        rows.par_iter().map(|&r| self.project.ts[r as usize]).collect()
    }

    /// Rows (each with a payload that travels along) in (person, time, arrival) order. Compact
    /// keys are sorted rather than chasing three columns per comparison.
    fn sort_by_person_time<T: Copy + Ord + Send>(
        &self,
        rows: impl Iterator<Item = (u32, T)>,
    ) -> Vec<(u32, T)> {
        let mut keys: Vec<(u32, i64, u32, T)> = rows
            .map(|(r, t)| (self.person(r as usize), self.project.ts[r as usize], r, t))
            .collect();
        keys.par_sort_unstable();
        keys.into_iter().map(|(_, _, r, t)| (r, t)).collect()
    }

    /// An instant in the query's time zone, RFC 3339.
    fn iso(&self, ts_us: i64) -> String {
        let secs = ts_us.div_euclid(1_000_000);
        let nanos = (ts_us.rem_euclid(1_000_000) * 1000) as u32;
        self.tz
            .timestamp_opt(secs, nanos)
            .single()
            .map(|d| d.to_rfc3339())
            .unwrap_or_default()
    }
}

/// A measure's value as JSON: integral values as integers, NaN and infinities as null.
fn number(value: Option<f64>) -> Value {
    match value {
        Some(v) if v.is_finite() => {
            if v.fract() == 0.0 && v.abs() < 9.0e15 {
                json!(v as i64)
            } else {
                json!(v)
            }
        }
        _ => Value::Null,
    }
}

/// Index of the last start at or before `ts` (starts ascending, starts[0] <= ts).
fn boundary_index(starts: &[i64], ts: i64) -> usize {
    starts.partition_point(|&s| s <= ts).saturating_sub(1)
}

/// A bucket's longest span (a month as 31 days), for stepping past a bucket and for how far
/// past the range retention looks.
fn bucket_span(unit: Unit) -> i64 {
    const HOUR: i64 = 3_600_000_000;
    match unit {
        Unit::Hour => HOUR,
        Unit::Day => 24 * HOUR,
        Unit::Week => 7 * 24 * HOUR,
        Unit::Month => 31 * 24 * HOUR,
    }
}

#[cfg(test)]
mod tests {
    use super::testing::{self, answer, rows, Rows, T0};
    use super::*;
    use serde_json::json;

    #[test]
    fn projects_are_apart_and_an_unknown_one_is_empty() {
        let store = Rows::new()
            .event("a", T0, "x", json!({}))
            .in_project("p_other")
            .event("secret", T0, "y", json!({}))
            .store();
        assert_eq!(
            rows(&store, json!({"kind": "breakdown", "prop": "k"})),
            json!([{"key": "(none)", "value": 1}])
        );
        let answer = answer(&store, "p_missing", json!({"kind": "aggregate"}));
        assert_eq!(
            (answer.rows, answer.rows_scanned),
            (json!([{"value": 0}]), 0)
        );
    }

    #[test]
    fn the_range_is_half_open_and_counts_what_it_examined() {
        let store = Rows::new()
            .event("a", T0, "x", json!({}))
            .event("b", T0 + 3600, "x", json!({}))
            .event("a", T0 + 7200, "x", json!({}))
            .store();
        let body = json!({"kind": "aggregate", "filter": {"event": {"eq": "a"}},
                          "time_range": {"from": "2026-01-05T00:00:00Z", "to": "2026-01-05T02:00:00Z"}});
        let answer = answer(&store, "p", body);
        assert_eq!(
            (answer.rows, answer.rows_scanned),
            (json!([{"value": 1}]), 2)
        );
        assert_eq!(answer.kind, "aggregate");
    }

    #[test]
    fn over_the_row_budget_is_a_timeout() {
        let mut data = Rows::new();
        for i in 0..5 {
            data = data.event("e", T0 + i, "x", json!({}));
        }
        let store = data.store();
        let plan = testing::plan_with_budget(json!({"kind": "aggregate"}), 4);
        let e = execute(&store, &plan).unwrap_err();
        assert_eq!(e.code, Code::Timeout);
        assert!(execute(
            &store,
            &testing::plan_with_budget(json!({"kind": "aggregate"}), 5)
        )
        .is_ok());
    }

    #[test]
    fn numbers_are_integers_when_integral_and_null_when_not_finite() {
        assert_eq!(number(Some(3.0)), json!(3));
        assert_eq!(number(Some(2.5)), json!(2.5));
        assert_eq!(number(Some(f64::NAN)), Value::Null);
        assert_eq!(number(None), Value::Null);
        assert_eq!(boundary_index(&[0, 10, 20], 15), 1);
        assert_eq!(boundary_index(&[0, 10, 20], 20), 2);
    }
}
