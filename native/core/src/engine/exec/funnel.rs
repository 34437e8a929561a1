//! `funnel`: persons per step reached, per group (README "Semantics").
//!
//! Step-1 events inside the range start attempts; later steps may fall up to the window past
//! `to`. Each row's step mask is computed here once; the kernel (`query::funnel`) walks each
//! person's rows in time order.

use rayon::prelude::*;
use serde_json::{json, Value};

use super::groups::Groups;
use super::Scan;
use crate::engine::error::QueryError;
use crate::engine::plan::{FunnelQuery, Order};
use crate::query::funnel::{funnel, FunnelInput, FunnelParams, NO_GROUP};

pub(super) fn run(scan: &Scan, q: &FunnelQuery) -> Result<(Value, u64), QueryError> {
    let project = scan.project;
    let n = q.steps.len();
    let window_us = q.conversion_window.0 .0;
    let strict = q.order == Order::Strict;
    let step_events: Vec<Option<u32>> = q
        .steps
        .iter()
        .map(|s| project.strings.get(s.event.as_str()))
        .collect();
    let step_filters: Vec<_> = q
        .steps
        .iter()
        .map(|s| s.filter.as_ref().map(|f| scan.compile(f)))
        .collect();
    // The steps each event name can fill, by its code; then the filters of those that have one.
    let mut by_event = vec![0u32; project.strings.len()];
    for (i, event) in step_events.iter().enumerate() {
        if let Some(code) = event {
            by_event[*code as usize] |= 1 << i;
        }
    }
    let filtered: u32 = step_filters
        .iter()
        .enumerate()
        .filter(|(_, f)| f.is_some())
        .fold(0, |m, (i, _)| m | 1 << i);
    let mask_of = |r: usize| -> u32 {
        let mut mask = by_event[project.event.get(r) as usize];
        let mut check = mask & filtered;
        while check != 0 {
            let i = check.trailing_zeros() as usize;
            check &= check - 1;
            if !step_filters[i].as_ref().is_some_and(|f| f.matches(project, r)) {
                mask &= !(1 << i);
            }
        }
        mask
    };
    // One pass: each row of the range (and the window past it) with its step mask, keyed by
    // person and time. Strict funnels need every row of the person (any other event ends an
    // attempt); the others only rows of some step.
    let some_step = |r: usize| by_event[project.event.get(r) as usize] != 0;
    let (mut keys, scanned) = scan.scan_map_where(
        scan.from_us,
        scan.to_us.saturating_add(window_us),
        (!strict).then_some(some_step),
        |r| {
            let mask = mask_of(r);
            (strict || mask != 0).then(|| (scan.person(r), project.ts[r], r as u32, mask))
        },
    )?;
    keys.par_sort_unstable();
    let mut groups = Groups::new(scan, &q.group_by.0);
    let group: Vec<u32> = if groups.active() {
        keys.iter().map(|k| groups.id(k.2 as usize)).collect()
    } else {
        vec![NO_GROUP; keys.len()]
    };
    let persons: Vec<u32> = keys.iter().map(|k| k.0).collect();
    let times: Vec<i64> = keys.iter().map(|k| k.1).collect();
    let steps: Vec<u32> = keys.iter().map(|k| k.3).collect();
    drop(keys);
    let counts = funnel(
        &FunnelInput {
            person: &persons,
            ts: &times,
            steps: &steps,
            group: &group,
        },
        &FunnelParams {
            n_steps: n,
            window_us,
            from_us: scan.from_us,
            to_us: scan.to_us,
            strict,
        },
    );
    let step_rows = |c: &[u64]| -> Value {
        let first = c.first().copied().unwrap_or(0);
        q.steps
            .iter()
            .enumerate()
            .map(|(i, s)| {
                let count = c.get(i).copied().unwrap_or(0);
                let conversion = if first == 0 {
                    0.0
                } else {
                    count as f64 / first as f64
                };
                json!({"event": s.event.as_str(), "count": count, "conversion": conversion})
            })
            .collect()
    };
    let out = if groups.active() {
        let mut sorted = counts;
        // Most persons at step 1 first, then by the group's values.
        sorted.sort_by(|a, b| {
            b.1[0]
                .cmp(&a.1[0])
                .then_with(|| groups.labels(a.0).cmp(&groups.labels(b.0)))
        });
        sorted
            .iter()
            .map(|(g, c)| json!({"group": groups.json(*g), "steps": step_rows(c)}))
            .collect()
    } else {
        let mut total = vec![0u64; n];
        for (_, c) in &counts {
            for (t, v) in total.iter_mut().zip(c) {
                *t += v;
            }
        }
        vec![json!({"steps": step_rows(&total)})]
    };
    Ok((Value::Array(out), scanned))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{between, rows, Rows, DAY, HOUR, T0};
    use serde_json::{json, Value};

    fn counts(store: &crate::engine::table::Store, body: Value) -> Vec<u64> {
        let answer = rows(store, body);
        answer[0]["steps"]
            .as_array()
            .unwrap()
            .iter()
            .map(|s| s["count"].as_u64().unwrap())
            .collect()
    }

    fn steps(names: &[&str]) -> Value {
        names.iter().map(|n| json!({"event": n})).collect()
    }

    #[test]
    fn persons_count_once_at_the_furthest_step_within_the_window() {
        let store = Rows::new()
            // a converts within the hour, b's B comes too late, c never sees B
            .event("A", T0, "a", json!({}))
            .event("B", T0 + HOUR, "a", json!({}))
            .event("A", T0, "b", json!({}))
            .event("B", T0 + HOUR + 1, "b", json!({}))
            .event("A", T0, "c", json!({}))
            .event("A", T0 + 60, "c", json!({}))
            .store();
        let body =
            json!({"kind": "funnel", "steps": steps(&["A", "B"]), "conversion_window": "1h"});
        let answer = rows(&store, body.clone());
        assert_eq!(
            answer,
            json!([{"steps": [
                {"event": "A", "count": 3, "conversion": 1.0},
                {"event": "B", "count": 1, "conversion": 1.0 / 3.0}
            ]}])
        );
    }

    #[test]
    fn later_steps_may_fall_past_the_range_but_step_one_may_not() {
        let store = Rows::new()
            .event("A", T0 + DAY - 60, "a", json!({}))
            .event("B", T0 + DAY + 60, "a", json!({}))
            .event("A", T0 + DAY + 60, "b", json!({}))
            .store();
        let body = json!({"kind": "funnel", "steps": steps(&["A", "B"]), "time_range": between(T0, T0 + DAY)});
        assert_eq!(counts(&store, body), vec![1, 1]);
    }

    #[test]
    fn strict_order_ends_an_attempt_at_any_other_event() {
        let store = Rows::new()
            .event("A", T0, "a", json!({}))
            .event("C", T0 + 60, "a", json!({}))
            .event("B", T0 + 120, "a", json!({}))
            .store();
        let body = json!({"kind": "funnel", "steps": steps(&["A", "B"])});
        assert_eq!(counts(&store, body.clone()), vec![1, 1]);
        let mut strict = body;
        strict["order"] = json!("strict");
        assert_eq!(counts(&store, strict), vec![1, 0]);
    }

    #[test]
    fn step_filters_and_linked_ids_are_one_person() {
        let store = Rows::new()
            .event("view", T0, "anon", json!({}))
            .event("buy", T0 + 60, "u1", json!({"amount": 5}))
            .event("buy", T0 + 120, "u1", json!({"amount": 50}))
            .link("anon", "u1")
            .store();
        let body = json!({"kind": "funnel", "steps": [
            {"event": "view"}, {"event": "buy", "filter": {"prop": {"amount": {"gt": 10}}}}
        ]});
        assert_eq!(counts(&store, body), vec![1, 1]);
    }

    #[test]
    fn groups_by_most_persons_then_value() {
        let store = Rows::new()
            .event("A", T0, "a", json!({"plan": "pro"}))
            .event("A", T0, "b", json!({"plan": "free"}))
            .event("B", T0 + 60, "b", json!({}))
            .event("A", T0, "c", json!({"plan": "free"}))
            .store();
        let body =
            json!({"kind": "funnel", "steps": steps(&["A", "B"]), "group_by": [{"prop": "plan"}]});
        let answer = rows(&store, body);
        let groups: Vec<(Value, Vec<u64>)> = answer
            .as_array()
            .unwrap()
            .iter()
            .map(|row| {
                let counts = row["steps"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .map(|s| s["count"].as_u64().unwrap());
                (row["group"].clone(), counts.collect())
            })
            .collect();
        assert_eq!(
            groups,
            vec![
                (json!({"plan": "free"}), vec![2, 1]),
                (json!({"plan": "pro"}), vec![1, 0])
            ]
        );
    }
}
