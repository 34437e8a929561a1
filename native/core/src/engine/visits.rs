//! Visits (sessions) derived from the events themselves: a person's run of events with no gap
//! of 30 minutes or more (query-semantics §7 "web"), persons stitched as every query sees them.
//!
//! Visits are computed over all of a project's rows, not per query, so they do not depend on the
//! range asked: a query takes the visits that start in its range. The table is derived once and
//! cached in the project, laid out in visit order so that a query without a filter never chases
//! a row. Rows that arrive re-derive only the visits of the persons they belong to (the others
//! are copied); a change of persons or a rewrite of rows (`Project::revision`) derives it all.

use std::sync::{Arc, Mutex};

use rustc_hash::FxHashMap;

use super::col::Col;
use super::plan::Dimension;
use super::table::{hot_index, Interner, Project, PropColumn};
use crate::url;

/// A visit ends after this much inactivity; a gap of exactly this long starts a new visit.
pub const VISIT_GAP_US: i64 = 30 * 60 * 1_000_000;
/// "No such row" (a visit without a `$pageview`).
pub const NO_ROW: u32 = u32::MAX;
/// The key of a `Direct / None` source (no string code is this large).
pub const DIRECT_CODE: u32 = u32::MAX;

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

/// The class of every string code of the project (event names are interned with the hot values).
pub fn classes(project: &Project) -> Vec<EventClass> {
    (0..project.strings.len() as u32)
        .map(|code| classify(project.strings.resolve(code)))
        .collect()
}

/// Every person's visits. Positions index `order`; a visit is `order[bounds[v]..bounds[v + 1]]`,
/// and its `$pageview`s are `pv_*[pv_bounds[v]..pv_bounds[v + 1]]`.
///
/// The arrays are columns (`col::Col`): derived in memory, or mapped from the file a seal saved
/// them to (`visit_file`), so after a restart they are the page cache's.
#[derive(Default)]
pub struct Visits {
    /// The rows they cover (the project's first `len`).
    pub(super) len: usize,
    pub(super) revision: u64,
    /// How much of `Project::moved_persons` these visits have seen.
    pub(super) moved: usize,
    /// Rows in (person, time, arrival) order.
    pub order: Col<u32>,
    pub bounds: Col<u32>,
    pub person: Col<u32>,
    pub first_ts: Col<i64>,
    pub last_ts: Col<i64>,
    /// The visit's first event, and its first and last `$pageview` (`NO_ROW` when none).
    pub first_row: Col<u32>,
    pub entry_row: Col<u32>,
    pub exit_row: Col<u32>,
    /// 1 when exactly one `$pageview` and no custom event.
    pub bounce: Col<u8>,
    pub pv_bounds: Col<u32>,
    /// Each `$pageview`: its position in `order`, its path (a string code) and the seconds spent
    /// on the page (NaN when not known): the `$pageleave`'s `duration_ms` when sent, else the gap
    /// to the visit's next `$pageview`, else the gap to its `$pageleave`.
    pub pv_pos: Col<u32>,
    pub pv_path: Col<u32>,
    pub pv_time: Col<f64>,
    /// Each visit's key per dimension, derived on first use and carried over by updates.
    pub(super) keys: Mutex<FxHashMap<Dimension, Arc<VisitKeys>>>,
}

/// One dimension's key of every visit: a string code of the project (0 = none, `DIRECT_CODE`),
/// or for `hostname` a code of `hosts`.
pub struct VisitKeys {
    pub keys: Vec<u32>,
    pub hosts: Interner,
}

impl VisitKeys {
    /// A key's text; `None` when absent.
    pub fn label<'a>(
        &'a self,
        project: &'a Project,
        dimension: Dimension,
        key: u32,
    ) -> Option<&'a str> {
        match key {
            0 => None,
            DIRECT_CODE => Some(DIRECT),
            k if dimension == Dimension::Hostname => Some(self.hosts.resolve(k)),
            k => Some(project.strings.resolve(k)),
        }
    }
}

/// The source of a visit with neither a UTM source nor a referrer.
pub const DIRECT: &str = "Direct / None";

impl Visits {
    pub fn count(&self) -> usize {
        self.person.len()
    }

    /// The positions of visit `v`.
    pub fn span(&self, v: usize) -> std::ops::Range<usize> {
        self.bounds[v] as usize..self.bounds[v + 1] as usize
    }

    /// The `$pageview`s of visit `v` (indexes of the `pv_*` arrays).
    pub fn views(&self, v: usize) -> std::ops::Range<usize> {
        self.pv_bounds[v] as usize..self.pv_bounds[v + 1] as usize
    }

    pub fn pageviews(&self, v: usize) -> u32 {
        self.pv_bounds[v + 1] - self.pv_bounds[v]
    }

    /// Microseconds from the visit's first to its last event; 0 for a bounce.
    pub fn duration_us(&self, v: usize) -> i64 {
        if self.bounce[v] != 0 {
            0
        } else {
            self.last_ts[v] - self.first_ts[v]
        }
    }

    /// Every visit's key for `dimension` (not `page`, which is each pageview's path).
    pub fn keys(&self, project: &Project, dimension: Dimension) -> Arc<VisitKeys> {
        let mut cache = self.keys.lock().unwrap();
        if let Some(k) = cache.get(&dimension) {
            return k.clone();
        }
        let mut hosts = Interner::new();
        let reader = KeyReader::new(project);
        let keys = (0..self.count())
            .map(|v| reader.key(self, v, dimension, &mut hosts))
            .collect();
        let made = Arc::new(VisitKeys { keys, hosts });
        cache.insert(dimension, made.clone());
        made
    }
}

impl Project {
    /// The visits of every person, as of the rows and persons held now.
    pub fn visits(&self) -> Arc<Visits> {
        let mut cached = self.visits.lock().unwrap();
        if let Some(v) = cached.as_ref() {
            if v.len == self.len()
                && v.revision == self.revision
                && v.moved == self.moved_persons.len()
            {
                return v.clone();
            }
        }
        let built = match cached.as_ref() {
            Some(v) if v.revision == self.revision && v.len <= self.len() => update(self, v),
            _ => {
                let mut b = Builder::new(self);
                b.add_run(&sorted_keys(self, 0..self.len()));
                b.finish()
            }
        };
        let built = Arc::new(built);
        *cached = Some(built.clone());
        built
    }
}

/// A row as the visits need it, sorted by (person, time, row).
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Key {
    person: u32,
    ts: i64,
    row: u32,
    event: u32,
    path: u32,
}

fn key_of(project: &Project, row: usize, path: usize) -> Key {
    Key {
        person: project.person_of[project.distinct[row] as usize],
        ts: project.ts[row],
        row: row as u32,
        event: project.event.get(row),
        path: project.hot[path].get(row),
    }
}

fn path_column() -> usize {
    hot_index("path").expect("path is a hot column")
}

/// The keys of `rows`, read in row order (sequentially), then sorted.
fn sorted_keys(project: &Project, rows: std::ops::Range<usize>) -> Vec<Key> {
    let path = path_column();
    let mut keys: Vec<Key> = rows.map(|r| key_of(project, r, path)).collect();
    keys.sort_unstable();
    keys
}

/// `old` with the rows that arrived since and the persons links moved since: the visits of those
/// persons are derived again from all their rows, everyone else's are copied (with their
/// dimension keys).
fn update(project: &Project, old: &Visits) -> Visits {
    let path = path_column();
    let mut moved: Vec<u32> = project.moved_persons[old.moved..].to_vec();
    moved.sort_unstable();
    moved.dedup();
    let is_moved = |person: u32| moved.binary_search(&person).is_ok();
    // The rows to place again: those that arrived, and every row of a moved person's visits.
    let mut fresh: Vec<Key> = (old.len..project.len())
        .map(|r| key_of(project, r, path))
        .collect();
    if !moved.is_empty() {
        for v in 0..old.count() {
            if is_moved(old.person[v]) {
                fresh.extend(
                    old.order[old.span(v)]
                        .iter()
                        .map(|&r| key_of(project, r as usize, path)),
                );
            }
        }
    }
    fresh.sort_unstable();
    let mut b = Builder::new(project);
    let carried: Vec<(Dimension, Arc<VisitKeys>)> = old
        .keys
        .lock()
        .unwrap()
        .iter()
        .map(|(d, k)| (*d, k.clone()))
        .collect();
    let mut out_keys: Vec<(Dimension, Vec<u32>, Interner)> = carried
        .iter()
        .map(|(d, k)| {
            (
                *d,
                Vec::with_capacity(k.keys.len() + fresh.len()),
                k.hosts.clone(),
            )
        })
        .collect();
    let reader = KeyReader::new(project);
    // Old visits `range` copied as they are, but for the moved persons'.
    let copy = |b: &mut Builder,
                    out_keys: &mut [(Dimension, Vec<u32>, Interner)],
                    range: std::ops::Range<usize>| {
        let mut s = range.start;
        while s < range.end {
            if is_moved(old.person[s]) {
                s += 1;
                continue;
            }
            let mut e = s;
            while e < range.end && !is_moved(old.person[e]) {
                e += 1;
            }
            b.copy(old, s..e);
            for ((_, carried), (_, keys, _)) in carried.iter().zip(out_keys.iter_mut()) {
                keys.extend_from_slice(&carried.keys[s..e]);
            }
            s = e;
        }
    };
    let (mut v, mut i) = (0, 0);
    while i < fresh.len() {
        let person = fresh[i].person;
        let j = i + fresh[i..].partition_point(|k| k.person == person);
        // Everyone before this person is copied; this person's visits are derived again.
        let w = v + old.person[v..].partition_point(|&p| p < person);
        copy(&mut b, &mut out_keys, v..w);
        let after = w + old.person[w..].partition_point(|&p| p == person);
        let first_new = b.v.count();
        let mut keys: Vec<Key> = if is_moved(person) {
            // Its old rows are among `fresh` already.
            Vec::new()
        } else {
            old.order[old.bounds[w] as usize..old.bounds[after] as usize]
                .iter()
                .map(|&r| key_of(project, r as usize, path))
                .collect()
        };
        keys.extend_from_slice(&fresh[i..j]);
        keys.sort_unstable();
        b.add_run(&keys);
        for (d, keys, hosts) in out_keys.iter_mut() {
            for made in first_new..b.v.count() {
                keys.push(reader.key(&b.v, made, *d, hosts));
            }
        }
        v = after;
        i = j;
    }
    copy(&mut b, &mut out_keys, v..old.count());
    let visits = b.finish();
    *visits.keys.lock().unwrap() = out_keys
        .into_iter()
        .map(|(d, keys, hosts)| (d, Arc::new(VisitKeys { keys, hosts })))
        .collect();
    visits
}

/// Visits appended one person (or run of persons) at a time.
struct Builder {
    class: Vec<EventClass>,
    duration_ms: Arc<PropColumn>,
    v: Visits,
}

impl Builder {
    fn new(project: &Project) -> Self {
        Builder {
            class: classes(project),
            duration_ms: project.prop_column("duration_ms"),
            v: Visits {
                len: project.len(),
                revision: project.revision,
                moved: project.moved_persons.len(),
                bounds: vec![0].into(),
                pv_bounds: vec![0].into(),
                ..Visits::default()
            },
        }
    }

    fn finish(self) -> Visits {
        self.v
    }

    /// Old visits `range`, unchanged but for where they now sit.
    fn copy(&mut self, old: &Visits, range: std::ops::Range<usize>) {
        if range.is_empty() {
            return;
        }
        let v = &mut self.v;
        let shift = v.order.len() as i64 - i64::from(old.bounds[range.start]);
        let pv_shift = v.pv_pos.len() as i64 - i64::from(old.pv_bounds[range.start]);
        let (lo, hi) = (
            old.bounds[range.start] as usize,
            old.bounds[range.end] as usize,
        );
        v.order.extend_from_slice(&old.order[lo..hi]);
        let moved = |x: u32, by: i64| (i64::from(x) + by) as u32;
        v.bounds.extend(
            old.bounds[range.start + 1..=range.end]
                .iter()
                .map(|&b| moved(b, shift)),
        );
        let (plo, phi) = (
            old.pv_bounds[range.start] as usize,
            old.pv_bounds[range.end] as usize,
        );
        v.pv_bounds.extend(
            old.pv_bounds[range.start + 1..=range.end]
                .iter()
                .map(|&b| moved(b, pv_shift)),
        );
        v.pv_pos
            .extend(old.pv_pos[plo..phi].iter().map(|&p| moved(p, shift)));
        v.pv_path.extend_from_slice(&old.pv_path[plo..phi]);
        v.pv_time.extend_from_slice(&old.pv_time[plo..phi]);
        v.person.extend_from_slice(&old.person[range.clone()]);
        v.first_ts.extend_from_slice(&old.first_ts[range.clone()]);
        v.last_ts.extend_from_slice(&old.last_ts[range.clone()]);
        v.first_row.extend_from_slice(&old.first_row[range.clone()]);
        v.entry_row.extend_from_slice(&old.entry_row[range.clone()]);
        v.exit_row.extend_from_slice(&old.exit_row[range.clone()]);
        v.bounce.extend_from_slice(&old.bounce[range]);
    }

    /// The visits of `keys` (sorted; one or more whole persons).
    fn add_run(&mut self, keys: &[Key]) {
        let n = keys.len();
        let mut start = 0;
        while start < n {
            let mut end = start + 1;
            while end < n
                && keys[end].person == keys[start].person
                && keys[end].ts - keys[end - 1].ts < VISIT_GAP_US
            {
                end += 1;
            }
            self.add_visit(&keys[start..end]);
            start = end;
        }
    }

    fn add_visit(&mut self, keys: &[Key]) {
        let base = self.v.order.len();
        let views_from = self.v.pv_pos.len();
        let mut custom = false;
        // The first `$pageleave` since the open pageview.
        let mut leave: Option<usize> = None;
        for (at, k) in keys.iter().enumerate() {
            self.v.order.push(k.row);
            match self.class[k.event as usize] {
                EventClass::Pageview => {
                    if self.v.pv_pos.len() > views_from {
                        self.close_page(keys, base, leave, Some(at));
                    }
                    self.v.pv_pos.push((base + at) as u32);
                    self.v.pv_path.push(k.path);
                    self.v.pv_time.push(f64::NAN);
                    leave = None;
                }
                EventClass::Pageleave => {
                    if self.v.pv_pos.len() > views_from && leave.is_none() {
                        leave = Some(at);
                    }
                }
                EventClass::Custom => custom = true,
                EventClass::System => {}
            }
        }
        if self.v.pv_pos.len() > views_from {
            self.close_page(keys, base, leave, None);
        }
        let v = &mut self.v;
        let views = v.pv_pos.len() - views_from;
        let row_at = |pos: u32| keys[pos as usize - base].row;
        let (entry, exit) = match views {
            0 => (NO_ROW, NO_ROW),
            _ => (
                row_at(v.pv_pos[views_from]),
                row_at(v.pv_pos[v.pv_pos.len() - 1]),
            ),
        };
        v.bounds.push(v.order.len() as u32);
        v.person.push(keys[0].person);
        v.first_ts.push(keys[0].ts);
        v.last_ts.push(keys[keys.len() - 1].ts);
        v.first_row.push(keys[0].row);
        v.entry_row.push(entry);
        v.exit_row.push(exit);
        v.bounce.push(u8::from(views == 1 && !custom));
        v.pv_bounds.push(v.pv_pos.len() as u32);
    }

    /// The seconds on the last page opened: the `$pageleave` at `leave` with its `duration_ms`,
    /// else the gap to the next `$pageview` at `next`, else the gap to the leave.
    fn close_page(&mut self, keys: &[Key], base: usize, leave: Option<usize>, next: Option<usize>) {
        let view = *self.v.pv_pos.last().expect("a page is open") as usize - base;
        let seconds = leave
            .map(|l| self.duration_ms.num(keys[l].row as usize))
            .filter(|ms| ms.is_finite() && *ms >= 0.0)
            .map(|ms| ms / 1000.0)
            .unwrap_or_else(|| match next.or(leave) {
                Some(to) => (keys[to].ts - keys[view].ts) as f64 / 1e6,
                None => f64::NAN,
            });
        self.v.pv_time.set_last(seconds);
    }
}

/// Reads a visit's dimensions from the hot columns of its first event (its first `$pageview`
/// for the referrer, the source and the UTM tags).
struct KeyReader<'p> {
    project: &'p Project,
    columns: [usize; 11],
}

/// The hot columns the visit dimensions read, by position in `KeyReader::columns`.
const KEY_COLUMNS: [&str; 11] = [
    "path",
    "url",
    "referrer_host",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "browser",
    "os",
    "device_type",
    "country",
    "language",
];

impl<'p> KeyReader<'p> {
    fn new(project: &'p Project) -> Self {
        let mut columns = [0; 11];
        for (slot, name) in columns.iter_mut().zip(KEY_COLUMNS) {
            *slot = hot_index(name).expect("a hot column");
        }
        KeyReader { project, columns }
    }

    fn hot(&self, column: usize, row: u32) -> u32 {
        match row {
            NO_ROW => 0,
            r => self.project.hot[self.columns[column]].get(r as usize),
        }
    }

    fn key(&self, visits: &Visits, v: usize, d: Dimension, hosts: &mut Interner) -> u32 {
        let first = visits.first_row[v];
        let source = match visits.entry_row[v] {
            NO_ROW => first,
            row => row,
        };
        match d {
            Dimension::Page | Dimension::EntryPage => self.hot(0, visits.entry_row[v]),
            Dimension::ExitPage => self.hot(0, visits.exit_row[v]),
            Dimension::Hostname => match self.hot(1, first) {
                0 => 0,
                url_code => {
                    let url = self.project.strings.resolve(url_code);
                    match url::split(url).host {
                        Some(h) if !h.is_empty() => hosts.intern(&h.to_ascii_lowercase()),
                        _ => 0,
                    }
                }
            },
            Dimension::Referrer => self.hot(2, source),
            Dimension::Source => match (self.hot(3, source), self.hot(2, source)) {
                (0, 0) => DIRECT_CODE,
                (0, referrer) => referrer,
                (utm, _) => utm,
            },
            Dimension::UtmSource => self.hot(3, source),
            Dimension::UtmMedium => self.hot(4, source),
            Dimension::UtmCampaign => self.hot(5, source),
            Dimension::Browser => self.hot(6, first),
            Dimension::Os => self.hot(7, first),
            Dimension::Device => self.hot(8, first),
            Dimension::Country => self.hot(9, first),
            Dimension::Language => self.hot(10, first),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::super::exec::testing::{Rows, T0};
    use super::{Project, VisitKeys, Visits};
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
        assert_eq!(
            (0..3).map(|i| v.pageviews(i)).collect::<Vec<_>>(),
            vec![2, 1, 1]
        );
        assert_eq!(v.bounce, vec![0u8, 1, 1]);
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
        let tops: Vec<f64> = v.pv_time.iter().copied().filter(|t| !t.is_nan()).collect();
        assert_eq!(tops, vec![4.2, 60.0, 30.0]);
        assert_eq!(v.count(), 2);
    }

    #[test]
    fn new_rows_merge_into_the_order_and_links_rebuild_it() {
        let mut store = Rows::new()
            .pageview(T0, "a", "/")
            .pageview(T0 + 60, "b", "/")
            .store();
        assert_eq!(store.projects["p"].visits().count(), 2);
        let line = b"9\tp\t$pageview\t1767571230000000\ta\t\\N\t\\N\t/x\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t\\N\t{}\n";
        store.append_events(line).unwrap();
        let v = store.projects["p"].visits();
        assert_eq!((v.count(), v.pageviews(0)), (2, 2));
        store.append_links(b"10\tp\tb\ta\n").unwrap();
        let v = store.projects["p"].visits();
        assert_eq!((v.count(), v.pageviews(0)), (1, 3));
    }

    /// Visits kept up to date as rows arrive equal visits derived from scratch, dimension keys
    /// carried over included.
    #[test]
    fn updates_equal_a_fresh_derivation() {
        use super::super::plan::Dimension;
        let mut seed: u64 = 7;
        let mut next = |n: u64| {
            seed = seed
                .wrapping_mul(6364136223846793005)
                .wrapping_add(1442695040888963407);
            (seed >> 33) % n
        };
        let mut live = Rows::new().store();
        let mut all = String::new();
        let mut links = String::new();
        let names = ["$pageview", "$pageview", "$pageleave", "buy", "$identify"];
        let mut seq = 0;
        for round in 0..6 {
            let mut chunk = String::new();
            for _ in 0..(1 + next(40)) {
                seq += 1;
                let ts = (T0 + next(6 * 3600) as i64 + round * 600) * 1_000_000;
                let name = names[next(5) as usize];
                let who = format!("d{}", next(7));
                let path = ["/", "/a", "/b"][next(3) as usize];
                let url = ["https://x.io/", "https://Y.io/q", "\\N"][next(3) as usize];
                let mut hot = vec!["\\N".to_string(); 15];
                hot[1] = url.to_string();
                hot[2] = path.to_string();
                hot[3] = ["\\N", "g.com"][next(2) as usize].to_string();
                chunk.push_str(&format!(
                    "{seq}\tp\t{name}\t{ts}\t{who}\t{}\t{{\"duration_ms\": {}}}\n",
                    hot.join("\t"),
                    next(5000)
                ));
            }
            live.append_events(chunk.as_bytes()).unwrap();
            all.push_str(&chunk);
            // Links: d1 becomes d2, d4 becomes d1 (so d1 is a user: its link to d2 stops
            // counting), then d5 becomes d2.
            let link = match round {
                2 => Some(("d1", "d2")),
                3 => Some(("d4", "d1")),
                4 => Some(("d5", "d2")),
                _ => None,
            };
            if let Some((a, u)) = link {
                // A query before the link, so that the link is an update.
                assert!(live.projects["p"].visits().count() > 0);
                seq += 1;
                let line = format!("{seq}\tp\t{a}\t{u}\n");
                live.append_links(line.as_bytes()).unwrap();
                links.push_str(&line);
            }
            let v = live.projects["p"].visits();
            // Derive the dimension keys, so that the next update carries them over.
            v.keys(&live.projects["p"], Dimension::Source);
            v.keys(&live.projects["p"], Dimension::Hostname);
            let mut fresh = Rows::new().store();
            fresh.append_events(all.as_bytes()).unwrap();
            fresh.append_links(links.as_bytes()).unwrap();
            let f = fresh.projects["p"].visits();
            assert_eq!(v.order, f.order, "round {round}");
            assert_eq!(
                (&v.bounds, &v.person, &v.first_ts, &v.last_ts),
                (&f.bounds, &f.person, &f.first_ts, &f.last_ts)
            );
            assert_eq!(
                (&v.entry_row, &v.exit_row, &v.bounce, &v.pv_bounds),
                (&f.entry_row, &f.exit_row, &f.bounce, &f.pv_bounds)
            );
            assert_eq!((&v.pv_pos, &v.pv_path), (&f.pv_pos, &f.pv_path));
            let times = |x: &Visits| x.pv_time.iter().map(|t| t.to_bits()).collect::<Vec<_>>();
            assert_eq!(times(&v), times(&f));
            for d in [Dimension::Source, Dimension::Hostname] {
                let (a, b) = (
                    v.keys(&live.projects["p"], d),
                    f.keys(&fresh.projects["p"], d),
                );
                let labels = |k: &VisitKeys, p: &Project| -> Vec<Option<String>> {
                    k.keys
                        .iter()
                        .map(|&c| k.label(p, d, c).map(str::to_string))
                        .collect()
                };
                assert_eq!(
                    labels(&a, &live.projects["p"]),
                    labels(&b, &fresh.projects["p"]),
                    "{d:?}"
                );
            }
        }
    }
}
