//! `retention`: one cohort per person, the calendar period (query time zone, Monday weeks) of
//! their first `cohort_event` in the range; `returned[k]` counts the cohort's persons with a
//! `return_event` in period cohort + k, and `complete[k]` says whether that period has ended.

use serde_json::{json, Value};

use super::{boundary_index, bucket_span, Scan};
use crate::engine::error::QueryError;
use crate::engine::plan::RetentionQuery;
use crate::query::retention::{retention_by_person, RetentionInput, COHORT, RETURN};
use crate::query::timebucket::{period_index, period_start};

pub(super) fn run(scan: &Scan, q: &RetentionQuery) -> Result<(Value, u64), QueryError> {
    let project = scan.project;
    let unit = q.period.unit();
    let periods = q.periods.get();
    let cohort_code = project.strings.get(q.cohort_event.as_str());
    let return_code = project.strings.get(q.return_event().as_str());
    // Returns are read up to the last period of the last cohort.
    let hi = scan
        .to_us
        .saturating_add(bucket_span(unit) * (periods as i64 + 1));
    let flag = |r: usize| -> u8 {
        let event = Some(project.event.get(r));
        let cohort = event == cohort_code && project.ts[r] < scan.to_us;
        (if cohort { COHORT } else { 0 }) | (if event == return_code { RETURN } else { 0 })
    };
    // Period starts over the scanned range; a row's period is a binary search, not time zone math.
    let first_period = period_index(scan.from_us, scan.tz, unit);
    let mut starts = Vec::new();
    for k in first_period.. {
        let start = period_start(k, scan.tz, unit);
        if start > hi {
            break;
        }
        starts.push(start);
    }
    // Periods of one length (no daylight saving change in range): a division, not a search.
    let span = starts.windows(2).map(|w| w[1] - w[0]).min();
    let uniform = span.is_some_and(|d| d > 0 && starts.windows(2).all(|w| w[1] - w[0] == d));
    let period_of = |ts: i64| -> i32 {
        match span {
            Some(d) if uniform && ts >= starts[0] => {
                first_period + ((ts - starts[0]) / d).min(starts.len() as i64 - 1) as i32
            }
            _ => first_period + boundary_index(&starts, ts) as i32,
        }
    };
    // One pass on every core: each cohort or return row's person, period and flags, straight
    // into the kernel's three columns.
    type Columns = (Vec<u32>, Vec<i32>, Vec<u8>);
    let (cohort, back) = (cohort_code.unwrap_or(u32::MAX), return_code.unwrap_or(u32::MAX));
    let either = |r: usize| {
        let event = project.event.get(r);
        (event == cohort) | (event == back)
    };
    let ((person, period, flags), scanned) = scan.fold_where(
        scan.from_us,
        hi,
        Some(either),
        Columns::default,
        |(person, period, flags): &mut Columns, r| {
            let f = flag(r);
            if f != 0 {
                person.push(scan.person(r));
                period.push(period_of(project.ts[r]));
                flags.push(f);
            }
        },
        |mut a: Columns, b: Columns| {
            a.0.extend_from_slice(&b.0);
            a.1.extend_from_slice(&b.1);
            a.2.extend_from_slice(&b.2);
            a
        },
    )?;
    let cohorts = retention_by_person(
        &RetentionInput {
            person: &person,
            period: &period,
            flags: &flags,
        },
        project.ids.len(),
        periods,
    );
    let now_period = period_index(scan.now_us, scan.tz, unit);
    let out = cohorts
        .into_iter()
        .map(|(c, size, returned)| {
            let complete: Vec<bool> = (0..periods as i32).map(|k| c + k < now_period).collect();
            let cohort = scan.iso(period_start(c, scan.tz, unit));
            json!({"cohort": cohort, "size": size, "returned": returned, "complete": complete})
        })
        .collect();
    Ok((Value::Array(out), scanned))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{between, rows, Rows, DAY, NOW, T0};
    use serde_json::json;

    #[test]
    fn one_cohort_per_person_returns_counted_per_period() {
        let store = Rows::new()
            .event("signup", T0, "a", json!({}))
            .event("signup", T0 + DAY, "a", json!({}))
            .event("use", T0 + DAY + 60, "a", json!({}))
            .event("use", T0 + 2 * DAY, "a", json!({}))
            .event("signup", T0 + DAY, "b", json!({}))
            .event("use", T0 + 3 * DAY, "b", json!({}))
            .store();
        let body = json!({"kind": "retention", "cohort_event": "signup", "return_event": "use",
                          "period": "day", "periods": 3, "time_range": between(T0, T0 + 2 * DAY)});
        assert_eq!(
            rows(&store, body),
            json!([
                {"cohort": "2026-01-05T00:00:00+00:00", "size": 1, "returned": [1, 1, 1], "complete": [true, true, true]},
                {"cohort": "2026-01-06T00:00:00+00:00", "size": 1, "returned": [1, 0, 1], "complete": [true, true, true]}
            ])
        );
    }

    #[test]
    fn weeks_start_on_monday_and_unfinished_periods_are_flagged() {
        let store = Rows::new()
            .event("visit", T0 + 2 * DAY, "a", json!({}))
            .event("visit", T0 + 8 * DAY, "a", json!({}))
            .store();
        let body =
            json!({"kind": "retention", "cohort_event": "visit", "time_range": between(T0, NOW)});
        // NOW is Thursday of the second week: period 1 has not ended.
        assert_eq!(
            rows(&store, body),
            json!([{"cohort": "2026-01-05T00:00:00+00:00", "size": 1, "returned": [1, 1, 0, 0],
                    "complete": [true, false, false, false]}])
        );
    }
}
