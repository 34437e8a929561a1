//! `web`: visitors, visits, pageviews, views per visit, bounce rate, visit duration and time on
//! page, in total, per calendar bucket or per dimension, optionally beside an earlier range.
//!
//! A visit belongs to the range (and the bucket) in which it starts, and everything in it counts
//! there. The filter is read with the visit in view: a property named like a web dimension
//! (`source`, `country`, `entry_page`, …) is the visit's, `page` is the event's path, anything
//! else is the event's own; a visit is counted when any of its events passes, and `pageviews`
//! (and `page` rows, and time on page) count the `$pageview` events that pass.

use std::cell::RefCell;

use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};

use super::aggregate::buckets;
use super::{boundary_index, number, Scan, NONE_KEY};
use crate::engine::error::QueryError;
use crate::engine::filter::{accept, Compiled};
use crate::engine::plan::{Compare, Cond, Dimension, Filter, Metric, Named, WebQuery};
use crate::engine::table::{hot_index, Interner, Project};
use crate::engine::visits::{classes, EventClass, Visits, NO_ROW};
use crate::query::timebucket::Tz;
use crate::url;

/// The source of a visit with neither a UTM source nor a referrer.
pub const DIRECT: &str = "Direct / None";
/// The key of a `Direct / None` source (no string code is this large).
const DIRECT_CODE: u32 = u32::MAX;

/// The rows of `q` over the query's range, and over the earlier range when `compare` is set.
pub(super) fn run(scan: &Scan, q: &WebQuery) -> Result<(Value, Option<Value>, u64), QueryError> {
    let visits = scan.project.visits();
    let web = Web::new(scan, &visits, q);
    let (rows, mut scanned) = web.rows(scan.from_us, scan.to_us)?;
    let comparison = match q.compare {
        None => None,
        Some(compare) => {
            let (from, to) = earlier(compare, scan.from_us, scan.to_us, scan.tz);
            let (rows, more) = web.rows(from, to)?;
            scanned += more;
            Some(rows)
        }
    };
    Ok((rows, comparison, scanned))
}

/// The range compared with `[from, to)`.
pub fn earlier(compare: Compare, from: i64, to: i64, tz: Tz) -> (i64, i64) {
    match compare {
        Compare::PreviousPeriod => (from - (to - from), from),
        Compare::YearOverYear => (year_before(from, tz), year_before(to, tz)),
    }
}

/// The same local date and time a year earlier (29 February → 28 February). A local time that
/// is repeated is its first instant; one that does not exist (a spring-forward gap) is read
/// with the offset in force before the gap.
fn year_before(ts_us: i64, tz: Tz) -> i64 {
    use chrono::{Datelike, Offset, TimeZone};
    let secs = ts_us.div_euclid(1_000_000);
    let micros = ts_us.rem_euclid(1_000_000);
    let Some(local) = tz.timestamp_opt(secs, 0).single() else {
        return ts_us - 365 * super::super::plan::DAY_US;
    };
    let naive = local.naive_local();
    let date = naive.date();
    let earlier = date
        .with_year(date.year() - 1)
        .or_else(|| date.with_day(28).and_then(|d| d.with_year(date.year() - 1)))
        .unwrap_or(date);
    let shifted = earlier.and_time(naive.time());
    let instant = match tz.from_local_datetime(&shifted).earliest() {
        Some(d) => d.timestamp(),
        None => {
            let before = shifted - chrono::Duration::hours(3);
            let offset = tz
                .from_local_datetime(&before)
                .earliest()
                .map(|d| d.offset().fix().local_minus_utc())
                .unwrap_or(0);
            shifted.and_utc().timestamp() - i64::from(offset)
        }
    };
    instant * 1_000_000 + micros
}

/// Per group: what the metrics are computed from.
#[derive(Default, Clone)]
struct Acc {
    visitors: u64,
    last_person: Option<u32>,
    visits: u64,
    last_visit: Option<u32>,
    pageviews: u64,
    bounces: u64,
    duration_us: i64,
    time_on_page: Vec<f64>,
}

impl Acc {
    fn visit(&mut self, visits: &Visits, v: usize) -> bool {
        if self.last_visit == Some(v as u32) {
            return false;
        }
        self.last_visit = Some(v as u32);
        if self.last_person != Some(visits.person[v]) {
            self.last_person = Some(visits.person[v]);
            self.visitors += 1;
        }
        self.visits += 1;
        self.bounces += u64::from(visits.bounce[v]);
        self.duration_us += visits.duration_us(v);
        true
    }

    fn json(&mut self, metrics: &[Metric], row: &mut Map<String, Value>) {
        let per_visit = |x: f64| {
            if self.visits == 0 {
                0.0
            } else {
                x / self.visits as f64
            }
        };
        for &m in metrics {
            let value = match m {
                Metric::Visitors => json!(self.visitors),
                Metric::Visits => json!(self.visits),
                Metric::Pageviews => json!(self.pageviews),
                Metric::ViewsPerVisit => number(Some(round2(per_visit(self.pageviews as f64)))),
                Metric::BounceRate => number(Some(round2(per_visit(self.bounces as f64 * 100.0)))),
                Metric::VisitDuration => {
                    number(Some(round2(per_visit(self.duration_us as f64 / 1e6))))
                }
                Metric::TimeOnPage => number(median(&mut self.time_on_page).map(round2)),
            };
            row.insert(m.name().into(), value);
        }
    }
}

/// Half away from zero, to 2 decimals.
pub fn round2(x: f64) -> f64 {
    let scaled = x * 100.0;
    let floor = scaled.floor();
    let r = if scaled - floor >= 0.5 { floor + 1.0 } else { floor };
    r / 100.0
}

/// The interpolated median.
fn median(values: &mut [f64]) -> Option<f64> {
    if values.is_empty() {
        return None;
    }
    values.sort_unstable_by(f64::total_cmp);
    let n = values.len();
    Some(if n % 2 == 1 {
        values[n / 2]
    } else {
        (values[n / 2 - 1] + values[n / 2]) / 2.0
    })
}

/// How rows are keyed.
#[derive(Clone, Copy, PartialEq)]
enum Keying {
    Total,
    Bucket,
    Visit(Dimension),
    Page,
}

struct Web<'a> {
    scan: &'a Scan<'a>,
    visits: &'a Visits,
    q: &'a WebQuery,
    keying: Keying,
    class: Vec<EventClass>,
    keys: Keys<'a>,
    filter: Option<WebFilter>,
    path: usize,
}

impl<'a> Web<'a> {
    fn new(scan: &'a Scan<'a>, visits: &'a Visits, q: &'a WebQuery) -> Self {
        let keying = match (q.dimension, q.time_bucket) {
            (Some(Dimension::Page), _) => Keying::Page,
            (Some(d), _) => Keying::Visit(d),
            (None, Some(_)) => Keying::Bucket,
            (None, None) => Keying::Total,
        };
        let project = scan.project;
        Web {
            scan,
            visits,
            q,
            keying,
            class: classes(project),
            keys: Keys::new(project, visits),
            filter: scan.filter_source().map(|f| WebFilter::new(f, project)),
            path: hot_index("path").expect("path is a hot column"),
        }
    }

    /// The rows over `[from, to)` and how many events the visits starting there hold.
    fn rows(&self, from: i64, to: i64) -> Result<(Value, u64), QueryError> {
        let visits = self.visits;
        let project = self.scan.project;
        let in_range: Vec<usize> = (0..visits.count())
            .filter(|&v| visits.first_ts[v] >= from && visits.first_ts[v] < to)
            .collect();
        let scanned: u64 = in_range.iter().map(|&v| visits.span(v).len() as u64).sum();
        self.scan.check_budget(scanned)?;
        let starts = match (self.keying, self.q.time_bucket) {
            (Keying::Bucket, Some(b)) => buckets(self.scan, b.unit(), from, to),
            _ => Vec::new(),
        };
        let mut groups: FxHashMap<u32, Acc> = FxHashMap::default();
        let mut selected: Vec<bool> = Vec::new();
        for v in in_range {
            let span = visits.span(v);
            selected.clear();
            let any = match &self.filter {
                None => {
                    selected.resize(span.len(), true);
                    true
                }
                Some(f) => {
                    let ctx = self.keys.context(v);
                    let mut any = false;
                    for pos in span.clone() {
                        let hit = f.matches(project, visits.order[pos] as usize, &ctx, &self.keys);
                        any |= hit;
                        selected.push(hit);
                    }
                    any
                }
            };
            if !any {
                continue;
            }
            let views = span.clone().zip(&selected).filter(|&(pos, &hit)| {
                hit && self.class[project.event[visits.order[pos] as usize] as usize]
                    == EventClass::Pageview
            });
            let want_top = self.q.metrics.has(Metric::TimeOnPage);
            if self.keying == Keying::Page {
                for (pos, _) in views {
                    let row = visits.order[pos] as usize;
                    let acc = groups.entry(project.hot[self.path][row]).or_default();
                    acc.visit(visits, v);
                    acc.pageviews += 1;
                    let top = visits.time_on_page[pos];
                    if want_top && !top.is_nan() {
                        acc.time_on_page.push(top);
                    }
                }
                continue;
            }
            let key = match self.keying {
                Keying::Bucket => boundary_index(&starts, visits.first_ts[v]) as u32,
                Keying::Visit(d) => self.keys.key(d, v),
                _ => 0,
            };
            let acc = groups.entry(key).or_default();
            acc.visit(visits, v);
            for (pos, _) in views {
                acc.pageviews += 1;
                let top = visits.time_on_page[pos];
                if want_top && !top.is_nan() {
                    acc.time_on_page.push(top);
                }
            }
        }
        Ok((self.answer(groups, &starts), scanned))
    }

    fn answer(&self, mut groups: FxHashMap<u32, Acc>, starts: &[i64]) -> Value {
        let metrics = &self.q.metrics.0;
        let row = |key: Option<(&str, Value)>, acc: &mut Acc| {
            let mut row = Map::new();
            if let Some((name, value)) = key {
                row.insert(name.into(), value);
            }
            acc.json(metrics, &mut row);
            Value::Object(row)
        };
        match self.keying {
            Keying::Total => {
                let mut acc = groups.remove(&0).unwrap_or_default();
                Value::Array(vec![row(None, &mut acc)])
            }
            Keying::Bucket => Value::Array(
                starts
                    .iter()
                    .enumerate()
                    .map(|(b, &start)| {
                        let mut acc = groups.remove(&(b as u32)).unwrap_or_default();
                        row(Some(("bucket", json!(self.scan.iso(start)))), &mut acc)
                    })
                    .collect(),
            ),
            Keying::Visit(_) | Keying::Page => {
                let dim = match self.keying {
                    Keying::Visit(d) => d,
                    _ => Dimension::Page,
                };
                let mut ranked: Vec<(String, Acc)> = groups
                    .into_iter()
                    .map(|(k, acc)| (self.keys.label(dim, k), acc))
                    .collect();
                ranked.sort_by(|a, b| b.1.visitors.cmp(&a.1.visitors).then_with(|| a.0.cmp(&b.0)));
                ranked.truncate(self.q.limit.get());
                Value::Array(
                    ranked
                        .into_iter()
                        .map(|(key, mut acc)| row(Some(("key", json!(key))), &mut acc))
                        .collect(),
                )
            }
        }
    }
}

/// Each visit's key for a dimension: a string code of the project (0 = none), `DIRECT_CODE`, or
/// for `hostname` a code of the hosts seen, interned as they are met.
struct Keys<'a> {
    project: &'a Project,
    visits: &'a Visits,
    columns: [usize; 11],
    hosts: RefCell<(Interner, FxHashMap<u32, u32>)>,
}

/// The hot columns the visit dimensions read, by position in `Keys::columns`.
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

/// The rows a visit's properties are read from.
#[derive(Clone, Copy)]
struct VisitRows {
    visit: usize,
}

impl<'a> Keys<'a> {
    fn new(project: &'a Project, visits: &'a Visits) -> Self {
        let mut columns = [0; 11];
        for (slot, name) in columns.iter_mut().zip(KEY_COLUMNS) {
            *slot = hot_index(name).expect("a hot column");
        }
        Keys {
            project,
            visits,
            columns,
            hosts: RefCell::new((Interner::new(), FxHashMap::default())),
        }
    }

    fn context(&self, visit: usize) -> VisitRows {
        VisitRows { visit }
    }

    fn hot(&self, name_index: usize, row: u32) -> u32 {
        if row == NO_ROW {
            return 0;
        }
        self.project.hot[self.columns[name_index]][row as usize]
    }

    /// The row sources are read from: the first `$pageview`, else the first event.
    fn source_row(&self, v: usize) -> u32 {
        match self.visits.entry_row[v] {
            NO_ROW => self.visits.first_row[v],
            row => row,
        }
    }

    fn key(&self, d: Dimension, v: usize) -> u32 {
        let first = self.visits.first_row[v];
        match d {
            Dimension::Page | Dimension::EntryPage => self.hot(0, self.visits.entry_row[v]),
            Dimension::ExitPage => self.hot(0, self.visits.exit_row[v]),
            Dimension::Hostname => self.host(self.hot(1, first)),
            Dimension::Referrer => self.hot(2, self.source_row(v)),
            Dimension::Source => {
                let row = self.source_row(v);
                match (self.hot(3, row), self.hot(2, row)) {
                    (0, 0) => DIRECT_CODE,
                    (0, referrer) => referrer,
                    (utm, _) => utm,
                }
            }
            Dimension::UtmSource => self.hot(3, self.source_row(v)),
            Dimension::UtmMedium => self.hot(4, self.source_row(v)),
            Dimension::UtmCampaign => self.hot(5, self.source_row(v)),
            Dimension::Browser => self.hot(6, first),
            Dimension::Os => self.hot(7, first),
            Dimension::Device => self.hot(8, first),
            Dimension::Country => self.hot(9, first),
            Dimension::Language => self.hot(10, first),
        }
    }

    /// The host code of a URL's string code (0 when none).
    fn host(&self, url_code: u32) -> u32 {
        if url_code == 0 {
            return 0;
        }
        let mut hosts = self.hosts.borrow_mut();
        if let Some(&code) = hosts.1.get(&url_code) {
            return code;
        }
        let host = url::split(self.project.strings.resolve(url_code))
            .host
            .map(|h| h.to_ascii_lowercase());
        let code = match host {
            Some(h) if !h.is_empty() => hosts.0.intern(&h),
            _ => 0,
        };
        hosts.1.insert(url_code, code);
        code
    }

    /// A key's text as rows show it.
    fn label(&self, d: Dimension, key: u32) -> String {
        match (d, key) {
            (_, DIRECT_CODE) => DIRECT.to_string(),
            (_, 0) => NONE_KEY.to_string(),
            (Dimension::Hostname, k) => self.hosts.borrow().0.resolve(k).to_string(),
            (_, k) => self.project.strings.resolve(k).to_string(),
        }
    }

    /// A key's value for a filter: `None` when absent.
    fn value(&self, d: Dimension, key: u32) -> Option<String> {
        match key {
            0 => None,
            _ => Some(self.label(d, key)),
        }
    }
}

/// A filter read with the visit in view.
enum WebFilter {
    All(Vec<WebFilter>),
    Any(Vec<WebFilter>),
    Not(Box<WebFilter>),
    /// A condition on the event itself.
    Row(Compiled),
    /// A condition on a property of the visit, decided once per key.
    Visit(Dimension, Cond, RefCell<FxHashMap<u32, bool>>),
}

impl WebFilter {
    fn new(filter: &Filter, project: &Project) -> WebFilter {
        let all = |items: &[Filter]| items.iter().map(|f| WebFilter::new(f, project)).collect();
        match filter {
            Filter::All(items) => WebFilter::All(all(items)),
            Filter::Any(items) => WebFilter::Any(all(items)),
            Filter::Not(inner) => WebFilter::Not(Box::new(WebFilter::new(inner, project))),
            Filter::Prop(Named { name, cond }) => match Dimension::named(name.as_str()) {
                Some(Dimension::Page) => WebFilter::Row(Compiled::new(
                    &Filter::Prop(Named {
                        name: "path".into(),
                        cond: cond.clone(),
                    }),
                    project,
                )),
                Some(d) => WebFilter::Visit(d, cond.clone(), RefCell::default()),
                None => WebFilter::Row(Compiled::new(filter, project)),
            },
            other => WebFilter::Row(Compiled::new(other, project)),
        }
    }

    fn matches(&self, project: &Project, row: usize, ctx: &VisitRows, keys: &Keys) -> bool {
        match self {
            WebFilter::All(items) => items.iter().all(|f| f.matches(project, row, ctx, keys)),
            WebFilter::Any(items) => items.iter().any(|f| f.matches(project, row, ctx, keys)),
            WebFilter::Not(inner) => !inner.matches(project, row, ctx, keys),
            WebFilter::Row(c) => c.matches(project, row),
            WebFilter::Visit(d, cond, memo) => {
                let key = keys.key(*d, ctx.visit);
                if let Some(&hit) = memo.borrow().get(&key) {
                    return hit;
                }
                let hit = value_matches(keys.value(*d, key).as_deref(), cond);
                memo.borrow_mut().insert(key, hit);
                hit
            }
        }
    }
}

/// Whether one value (`None` = absent) satisfies `cond`, as a filter on a column would decide.
fn value_matches(value: Option<&str>, cond: &Cond) -> bool {
    let mut labels = Interner::new();
    let code = value.map_or(0, |v| labels.intern(v));
    accept(&labels, cond)[code as usize]
}

#[cfg(test)]
mod tests {
    use super::super::testing::{between, rows, Rows, DAY, HOUR, T0};
    use serde_json::{json, Value};

    const MIN: i64 = 60;

    fn site() -> crate::engine::table::Store {
        let landing = |path: &str, referrer: &str, utm: &str| -> Vec<(String, String)> {
            let mut hot = vec![("path".to_string(), path.to_string())];
            if !referrer.is_empty() {
                hot.push(("referrer_host".into(), referrer.into()));
            }
            if !utm.is_empty() {
                hot.push(("utm_source".into(), utm.into()));
            }
            hot.push(("url".into(), format!("https://Shop.example{path}")));
            hot.push(("browser".into(), "Firefox".into()));
            hot
        };
        let with = |rows: Rows, name: &str, ts: i64, who: &str, hot: Vec<(String, String)>, props: Value| {
            let hot: Vec<(&str, &str)> = hot.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            rows.event_with(name, ts, who, &hot, props)
        };
        let mut r = Rows::new();
        // a: google → / → /pricing (leave after 12.5 s visible) → signup; 2 visits (gap 30 min).
        r = with(r, "$pageview", T0, "a", landing("/", "google.com", ""), json!({}));
        r = r.pageview(T0 + 20, "a", "/pricing");
        r = with(r, "$pageleave", T0 + 50, "a", vec![("path".into(), "/pricing".into())], json!({"duration_ms": 12500}));
        r = r.event("signup", T0 + 60, "a", json!({}));
        r = with(r, "$pageview", T0 + 60 + 30 * MIN, "a", landing("/docs", "", ""), json!({}));
        // b: newsletter campaign, one page: a bounce.
        r = with(r, "$pageview", T0 + HOUR, "b", landing("/pricing", "mail.example", "newsletter"), json!({}));
        // c: direct, two pages 29 minutes apart: one visit, not a bounce.
        r = with(r, "$pageview", T0 + DAY, "c", landing("/", "", ""), json!({}));
        r = r.pageview(T0 + DAY + 29 * MIN, "c", "/docs");
        r.store()
    }

    fn web(body: Value) -> Value {
        let mut body = body;
        body["kind"] = json!("web");
        body["time_range"] = between(T0, T0 + 2 * DAY);
        rows(&site(), body)
    }

    #[test]
    fn totals() {
        assert_eq!(
            web(json!({})),
            json!([{"visitors": 3, "visits": 4, "pageviews": 6, "views_per_visit": 1.5,
                    "bounce_rate": 50, "visit_duration": 450, "time_on_page": 20}])
        );
    }

    #[test]
    fn only_the_metrics_asked_in_their_order() {
        assert_eq!(
            web(json!({"metrics": ["bounce_rate", "visits"]})),
            json!([{"bounce_rate": 50, "visits": 4}])
        );
    }

    #[test]
    fn sources_entry_pages_and_pages() {
        assert_eq!(
            web(json!({"dimension": "source", "metrics": ["visitors", "visits"]})),
            json!([
                {"key": "Direct / None", "visitors": 2, "visits": 2},
                {"key": "google.com", "visitors": 1, "visits": 1},
                {"key": "newsletter", "visitors": 1, "visits": 1}
            ])
        );
        assert_eq!(
            web(json!({"dimension": "entry_page", "metrics": ["visits", "bounce_rate"], "limit": 2})),
            json!([
                {"key": "/", "visits": 2, "bounce_rate": 0},
                {"key": "/docs", "visits": 1, "bounce_rate": 100}
            ])
        );
        assert_eq!(
            web(json!({"dimension": "page", "metrics": ["visitors", "pageviews", "time_on_page"]})),
            json!([
                {"key": "/", "visitors": 2, "pageviews": 2, "time_on_page": 880},
                {"key": "/docs", "visitors": 2, "pageviews": 2, "time_on_page": null},
                {"key": "/pricing", "visitors": 2, "pageviews": 2, "time_on_page": 12.5}
            ])
        );
        assert_eq!(
            web(json!({"dimension": "hostname", "metrics": ["visits"]})),
            json!([{"key": "shop.example", "visits": 4}])
        );
    }

    #[test]
    fn filters_read_the_visit_and_the_event() {
        // Visits from google that viewed /pricing.
        let filter = json!({"all": [{"prop": {"source": {"eq": "google.com"}}},
                                    {"prop": {"page": {"eq": "/pricing"}}}]});
        assert_eq!(
            web(json!({"filter": filter, "metrics": ["visitors", "visits", "pageviews"]})),
            json!([{"visitors": 1, "visits": 1, "pageviews": 1}])
        );
    }

    #[test]
    fn daily_buckets_and_the_previous_period() {
        let store = site();
        let body = json!({"kind": "web", "time_bucket": "1d", "metrics": ["visits", "time_on_page"],
                          "time_range": between(T0 + DAY, T0 + 2 * DAY), "compare": "previous_period"});
        let plan = super::super::testing::plan_with_budget(body, 0);
        let answer = super::super::execute(&store, &plan).unwrap();
        assert_eq!(
            answer.rows,
            json!([{"bucket": "2026-01-06T00:00:00+00:00", "visits": 1, "time_on_page": 1740}])
        );
        assert_eq!(
            answer.comparison,
            Some(json!([{"bucket": "2026-01-05T00:00:00+00:00", "visits": 3, "time_on_page": 16.25}]))
        );
    }

    #[test]
    fn year_over_year_keeps_the_local_date() {
        use crate::engine::plan::Compare;
        let tz: crate::query::timebucket::Tz = "Europe/Berlin".parse().unwrap();
        // 2024-02-29T12:00:00Z → 2023-02-28T12:00:00Z.
        let leap = 1_709_208_000_000_000;
        let (from, _) = super::earlier(Compare::YearOverYear, leap, leap + 1, tz);
        assert_eq!(from, 1_677_585_600_000_000);
    }

    #[test]
    fn rounding_is_half_away_from_zero() {
        assert_eq!(super::round2(1.005_000_000_1), 1.01);
        assert_eq!(super::round2(2.0 / 3.0), 0.67);
        assert_eq!(super::round2(0.125), 0.13);
    }
}
