//! `path`: journeys after the first `start_event` or up to the first `end_event` of a session
//! (a person's events split at 30 minutes of inactivity, repeats collapsed); items are event
//! names, and a page view is its path. `count` is person-sessions.

use serde_json::{json, Value};

use super::{Scan, SESSION_GAP_US};
use crate::engine::error::QueryError;
use crate::engine::plan::{Anchor, PathQuery};
use crate::engine::table::hot_index;
use crate::query::bitsets::Bitsets;
use crate::query::paths::{paths, Direction, PathInput};

pub(super) fn run(scan: &Scan, q: &PathQuery) -> Result<(Value, u64), QueryError> {
    let project = scan.project;
    let (anchor, direction) = match q.anchor()? {
        Anchor::Start(name) => (name, Direction::After),
        Anchor::End(name) => (name, Direction::Before),
    };
    let anchor_code = project.strings.get(anchor.as_str());
    // Only a person with an anchor event (passing the filter) in the range has a session to
    // count: mark them first, then take only their rows.
    let anchor_event = anchor_code.unwrap_or(u32::MAX);
    let (marked, _) = scan.fold_where(
        scan.from_us,
        scan.to_us,
        Some(|r: usize| project.event.get(r) == anchor_event),
        || Bitsets::new(1, project.ids.len()),
        |bits: &mut Bitsets, r| bits.insert(0, scan.person(r) as usize),
        Bitsets::union,
    )?;
    let has_anchor = |r: usize| marked.contains(0, scan.person(r) as usize);
    let (rows, scanned) = scan.scan_map_where(scan.from_us, scan.to_us, Some(has_anchor), |r| Some(r as u32))?;
    let rows: Vec<u32> = scan
        .sort_by_person_time(rows.into_iter().map(|r| (r, ())))
        .into_iter()
        .map(|(r, _)| r)
        .collect();
    let pageview = project.strings.get("$pageview");
    let path_column = &project.hot[hot_index("path").expect("path is a hot column")];
    let item_of = |r: usize| -> u32 {
        let path = path_column.get(r);
        if Some(project.event.get(r)) == pageview && path != 0 {
            path
        } else {
            project.event.get(r)
        }
    };
    let items: Vec<u32> = rows.iter().map(|&r| item_of(r as usize)).collect();
    let anchors: Vec<bool> = rows
        .iter()
        .map(|&r| Some(project.event.get(r as usize)) == anchor_code)
        .collect();
    let found = paths(
        &PathInput {
            person: &scan.persons(&rows),
            ts: &scan.times(&rows),
            item: &items,
            anchor: &anchors,
        },
        direction,
        q.depth.get(),
        SESSION_GAP_US,
    );
    let label = |code: u32| project.strings.resolve(code).to_string();
    let mut labelled: Vec<(Vec<String>, u64)> = found
        .into_iter()
        .map(|(p, c)| (p.into_iter().map(label).collect(), c))
        .collect();
    // Most person-sessions first, ties by the path's items.
    labelled.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    labelled.truncate(q.limit.get());
    let out = labelled
        .into_iter()
        .map(|(p, c)| json!({"path": p, "count": c}))
        .collect();
    Ok((Value::Array(out), scanned))
}

#[cfg(test)]
mod tests {
    use super::super::testing::{rows, Rows, HOUR, T0};
    use serde_json::json;

    fn visits() -> crate::engine::table::Store {
        Rows::new()
            .pageview(T0, "a", "/")
            .pageview(T0 + 60, "a", "/docs")
            .pageview(T0 + 90, "a", "/docs")
            .event("signup", T0 + 120, "a", json!({}))
            // b: a second session after an hour away
            .pageview(T0, "b", "/")
            .event("signup", T0 + 60, "b", json!({}))
            .pageview(T0 + HOUR, "b", "/")
            .pageview(T0 + HOUR + 60, "b", "/pricing")
            .store()
    }

    #[test]
    fn after_the_start_event_sessions_apart_repeats_collapsed() {
        let store = visits();
        let body = json!({"kind": "path", "start_event": "$pageview", "depth": 3});
        assert_eq!(
            rows(&store, body),
            json!([
                {"path": ["/", "/docs", "signup"], "count": 1},
                {"path": ["/", "/pricing"], "count": 1},
                {"path": ["/", "signup"], "count": 1}
            ])
        );
    }

    #[test]
    fn up_to_the_end_event_limited() {
        let store = visits();
        let body = json!({"kind": "path", "end_event": "signup", "depth": 2, "limit": 1});
        assert_eq!(
            rows(&store, body),
            json!([{"path": ["/", "signup"], "count": 1}])
        );
        let all = rows(
            &store,
            json!({"kind": "path", "end_event": "signup", "depth": 2}),
        );
        assert_eq!(all.as_array().unwrap().len(), 2);
    }
}
