//! Visits (sessions) derived from the events themselves: a person's run of events with no gap
//! of 30 minutes or more (query-semantics §7 "web"), persons stitched as every query sees them.
//!
//! Visits are computed over all of a project's rows, not per query, so they do not depend on the
//! range asked: a query takes the visits that start in its range. The table is derived once and
//! cached in the project; rows that arrive are merged into the person-time order (new rows are
//! few and mostly recent), and a change of persons or a rewrite of rows (`Project::revision`)
//! rebuilds it.

use std::sync::Arc;

use super::table::Project;

/// A visit ends after this much inactivity; a gap of exactly this long starts a new visit.
pub const VISIT_GAP_US: i64 = 30 * 60 * 1_000_000;
/// "No such row" (a visit without a `$pageview`).
pub const NO_ROW: u32 = u32::MAX;

/// What an event name means to web analytics.
#[derive(Clone, Copy, PartialEq, Eq, Debug)]
pub enum EventClass {
    Pageview,
    Pageleave,
    /// A name not starting with `$`: an interaction, so its visit is not a bounce.
    Custom,
    /// Any other `$` event.
    System,
}

pub fn classify(name: &str) -> EventClass {
    match name {
        "$pageview" => EventClass::Pageview,
        "$pageleave" => EventClass::Pageleave,
        n if n.starts_with('$') => EventClass::System,
        _ => EventClass::Custom,
    }
}

/// Every person's visits. Positions index `order`; a visit is `order[bounds[v]..bounds[v + 1]]`.
pub struct Visits {
    len: usize,
    revision: u64,
    /// Rows in (person, time, arrival) order.
    pub order: Vec<u32>,
    pub bounds: Vec<u32>,
    pub person: Vec<u32>,
    pub first_ts: Vec<i64>,
    pub last_ts: Vec<i64>,
    /// The visit's first event, and its first and last `$pageview` (`NO_ROW` when none).
    pub first_row: Vec<u32>,
    pub entry_row: Vec<u32>,
    pub exit_row: Vec<u32>,
    pub pageviews: Vec<u32>,
    /// Exactly one `$pageview` and no custom event.
    pub bounce: Vec<bool>,
    /// Seconds on the page of the `$pageview` at each position (NaN elsewhere or when unknown):
    /// the `$pageleave`'s `duration_ms` when sent, else the gap to the visit's next `$pageview`,
    /// else the gap to its `$pageleave`.
    pub time_on_page: Vec<f64>,
}

impl Visits {
    pub fn count(&self) -> usize {
        self.person.len()
    }

    /// The positions of visit `v`.
    pub fn span(&self, v: usize) -> std::ops::Range<usize> {
        self.bounds[v] as usize..self.bounds[v + 1] as usize
    }

    /// Seconds from the visit's first to its last event; 0 for a bounce.
    pub fn duration_us(&self, v: usize) -> i64 {
        if self.bounce[v] {
            0
        } else {
            self.last_ts[v] - self.first_ts[v]
        }
    }
}

/// The class of every string code of the project (event names are interned with the hot values).
pub fn classes(project: &Project) -> Vec<EventClass> {
    (0..project.strings.len() as u32)
        .map(|code| classify(project.strings.resolve(code)))
        .collect()
}

impl Project {
    /// The visits of every person, as of the rows and persons held now.
    pub fn visits(&self) -> Arc<Visits> {
        let mut cached = self.visits.lock().unwrap();
        if let Some(v) = cached.as_ref() {
            if v.len == self.len() && v.revision == self.revision {
                return v.clone();
            }
        }
        let order = match cached.as_ref() {
            Some(v) if v.revision == self.revision && v.len < self.len() => {
                merge_new_rows(self, &v.order, v.len)
            }
            _ => sorted_rows(self, 0..self.len()),
        };
        let built = Arc::new(build(self, order));
        *cached = Some(built.clone());
        built
    }

    fn person_key(&self, row: u32) -> (u32, i64, u32) {
        let r = row as usize;
        (self.person_of[self.distinct[r] as usize], self.ts[r], row)
    }
}

fn sorted_rows(project: &Project, rows: std::ops::Range<usize>) -> Vec<u32> {
    let mut keys: Vec<(u32, i64, u32)> = rows.map(|r| project.person_key(r as u32)).collect();
    keys.sort_unstable();
    keys.into_iter().map(|(_, _, r)| r).collect()
}

/// `old` (rows `0..old_len` in order) with the rows that arrived since merged in.
fn merge_new_rows(project: &Project, old: &[u32], old_len: usize) -> Vec<u32> {
    let new = sorted_rows(project, old_len..project.len());
    let mut out = Vec::with_capacity(old.len() + new.len());
    let (mut i, mut j) = (0, 0);
    while i < old.len() && j < new.len() {
        if project.person_key(old[i]) <= project.person_key(new[j]) {
            out.push(old[i]);
            i += 1;
        } else {
            out.push(new[j]);
            j += 1;
        }
    }
    out.extend_from_slice(&old[i..]);
    out.extend_from_slice(&new[j..]);
    out
}

fn build(project: &Project, order: Vec<u32>) -> Visits {
    let class = classes(project);
    let duration_ms = project.prop_column("duration_ms");
    let n = order.len();
    let mut v = Visits {
        len: project.len(),
        revision: project.revision,
        bounds: Vec::new(),
        person: Vec::new(),
        first_ts: Vec::new(),
        last_ts: Vec::new(),
        first_row: Vec::new(),
        entry_row: Vec::new(),
        exit_row: Vec::new(),
        pageviews: Vec::new(),
        bounce: Vec::new(),
        time_on_page: vec![f64::NAN; n],
        order,
    };
    let mut start = 0;
    while start < n {
        let first = v.order[start] as usize;
        let person = project.person_of[project.distinct[first] as usize];
        let mut end = start + 1;
        let mut last_ts = project.ts[first];
        while end < n {
            let row = v.order[end] as usize;
            let ts = project.ts[row];
            if project.person_of[project.distinct[row] as usize] != person
                || ts - last_ts >= VISIT_GAP_US
            {
                break;
            }
            last_ts = ts;
            end += 1;
        }
        let mut entry = NO_ROW;
        let mut exit = NO_ROW;
        let mut pageviews = 0u32;
        let mut custom = false;
        // The open pageview (its position) and the first `$pageleave` seen since it.
        let mut open: Option<usize> = None;
        let mut leave: Option<usize> = None;
        for pos in start..end {
            let row = v.order[pos] as usize;
            match class[project.event[row] as usize] {
                EventClass::Pageview => {
                    if let Some(prev) = open {
                        v.time_on_page[prev] = page_time(project, &v.order, &duration_ms, prev, leave, Some(pos));
                    }
                    if entry == NO_ROW {
                        entry = row as u32;
                    }
                    exit = row as u32;
                    pageviews += 1;
                    open = Some(pos);
                    leave = None;
                }
                EventClass::Pageleave => {
                    if open.is_some() && leave.is_none() {
                        leave = Some(pos);
                    }
                }
                EventClass::Custom => custom = true,
                EventClass::System => {}
            }
        }
        if let Some(prev) = open {
            v.time_on_page[prev] = page_time(project, &v.order, &duration_ms, prev, leave, None);
        }
        v.bounds.push(start as u32);
        v.person.push(person);
        v.first_ts.push(project.ts[first]);
        v.last_ts.push(last_ts);
        v.first_row.push(first as u32);
        v.entry_row.push(entry);
        v.exit_row.push(exit);
        v.pageviews.push(pageviews);
        v.bounce.push(pageviews == 1 && !custom);
        start = end;
    }
    v.bounds.push(n as u32);
    v
}

/// Seconds on the page viewed at position `view`: the `$pageleave` at `leave` with its
/// `duration_ms`, else the gap to the next `$pageview` at `next`, else the gap to the leave.
fn page_time(
    project: &Project,
    order: &[u32],
    duration_ms: &super::table::PropColumn,
    view: usize,
    leave: Option<usize>,
    next: Option<usize>,
) -> f64 {
    let ts = |pos: usize| project.ts[order[pos] as usize];
    if let Some(l) = leave {
        let ms = duration_ms.num[order[l] as usize];
        if ms.is_finite() && ms >= 0.0 {
            return ms / 1000.0;
        }
    }
    match (next, leave) {
        (Some(n), _) => (ts(n) - ts(view)) as f64 / 1e6,
        (None, Some(l)) => (ts(l) - ts(view)) as f64 / 1e6,
        (None, None) => f64::NAN,
    }
}

#[cfg(test)]
mod tests {
    use super::super::exec::testing::{Rows, T0};
    use serde_json::json;

    const MIN: i64 = 60;

    #[test]
    fn a_gap_of_thirty_minutes_starts_a_visit_and_29_does_not() {
        let store = Rows::new()
            .pageview(T0, "a", "/")
            .pageview(T0 + 29 * MIN, "a", "/b")
            .pageview(T0 + 59 * MIN, "a", "/c")
            .pageview(T0 + 2, "b", "/")
            .store();
        let v = store.projects["p"].visits();
        assert_eq!(v.count(), 3);
        assert_eq!(v.pageviews, vec![2, 1, 1]);
        assert_eq!(v.bounce, vec![false, true, true]);
        assert_eq!(v.duration_us(0), 29 * MIN * 1_000_000);
    }

    #[test]
    fn time_on_page_from_the_leave_the_next_view_or_nothing() {
        let store = Rows::new()
            .pageview(T0, "a", "/")
            .event("$pageleave", T0 + 5, "a", json!({"duration_ms": 4200}))
            .pageview(T0 + 10, "a", "/b")
            .pageview(T0 + 70, "a", "/c")
            .event("$pageleave", T0 + 100, "a", json!({}))
            .pageview(T0 + 4000, "a", "/d")
            .store();
        let v = store.projects["p"].visits();
        let tops: Vec<f64> = v.time_on_page.iter().copied().filter(|t| !t.is_nan()).collect();
        assert_eq!(tops, vec![4.2, 60.0, 30.0]);
        assert_eq!(v.count(), 2);
    }

    #[test]
    fn new_rows_merge_into_the_order_and_links_rebuild_it() {
        let mut store = Rows::new().pageview(T0, "a", "/").pageview(T0 + 60, "b", "/").store();
        assert_eq!(store.projects["p"].visits().count(), 2);
        let line = b"9\tp\t$pageview\t1767571230000000\ta\t\\N\t\\N\t/x\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t{}\n";
        store.append_events(line).unwrap();
        let v = store.projects["p"].visits();
        assert_eq!((v.count(), v.pageviews[0]), (2, 2));
        store.append_links(b"10\tp\tb\ta\n").unwrap();
        let v = store.projects["p"].visits();
        assert_eq!((v.count(), v.pageviews[0]), (1, 3));
    }
}
