//! `web`: visitors, visits, pageviews, views per visit, bounce rate, visit duration and time on
//! page, in total, per calendar bucket or per dimension, optionally beside an earlier range.
//!
//! A visit belongs to the range (and the bucket) in which it starts, and everything in it counts
//! there. The filter is read with the visit in view: a property named like a web dimension
//! (`source`, `country`, `entry_page`, …) is the visit's, `page` is the event's path, anything
//! else is the event's own; a visit is counted when any of its events passes, and `pageviews`
//! (and `page` rows, and time on page) count the `$pageview` events that pass.

use std::cell::RefCell;
use std::sync::Arc;

use rustc_hash::FxHashMap;
use serde_json::{json, Map, Value};

use super::aggregate::buckets;
use super::{boundary_index, number, Scan, NONE_KEY};
use crate::engine::error::QueryError;
use crate::engine::filter::{accept, Compiled};
use crate::engine::plan::{Compare, Cond, Dimension, Filter, Metric, Named, WebQuery};
use crate::engine::table::{Interner, Project};
use crate::engine::visits::{VisitKeys, Visits};
use crate::query::timebucket::Tz;

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
    fn view(&mut self, seconds: f64, want_time: bool) {
        self.pageviews += 1;
        if want_time && !seconds.is_nan() {
            self.time_on_page.push(seconds);
        }
    }

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
    let r = if scaled - floor >= 0.5 {
        floor + 1.0
    } else {
        floor
    };
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
    /// The visit keys of the dimension asked.
    keys: Option<Arc<VisitKeys>>,
    filter: Option<WebFilter>,
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
            keys: match keying {
                Keying::Visit(d) => Some(visits.keys(project, d)),
                _ => None,
            },
            filter: scan
                .filter_source()
                .map(|f| WebFilter::new(f, project, visits)),
        }
    }

    /// The rows over `[from, to)` and how many events the visits starting there hold.
    fn rows(&self, from: i64, to: i64) -> Result<(Value, u64), QueryError> {
        let visits = self.visits;
        let project = self.scan.project;
        let mut scanned = 0u64;
        let mut in_range: Vec<u32> = Vec::new();
        for v in 0..visits.count() {
            if visits.first_ts[v] >= from && visits.first_ts[v] < to {
                in_range.push(v as u32);
                scanned += u64::from(visits.bounds[v + 1] - visits.bounds[v]);
            }
        }
        self.scan.check_budget(scanned)?;
        let starts = match (self.keying, self.q.time_bucket) {
            (Keying::Bucket, Some(b)) => buckets(self.scan, b.unit(), from, to),
            _ => Vec::new(),
        };
        let want_time = self.q.metrics.has(Metric::TimeOnPage);
        let mut groups = Groups::default();
        let mut selected: Vec<bool> = Vec::new();
        for v in in_range {
            let v = v as usize;
            let span = visits.span(v);
            // Without a filter every event is chosen; with one, the events that pass.
            let chosen: Option<&[bool]> = match &self.filter {
                None => None,
                Some(f) => {
                    selected.clear();
                    selected.extend(
                        span.clone()
                            .map(|pos| f.matches(project, visits.order[pos] as usize, v)),
                    );
                    if !selected.contains(&true) {
                        continue;
                    }
                    Some(&selected)
                }
            };
            let passes =
                |pv: usize| chosen.is_none_or(|c| c[visits.pv_pos[pv] as usize - span.start]);
            if self.keying == Keying::Page {
                for pv in visits.views(v) {
                    if !passes(pv) {
                        continue;
                    }
                    let acc = groups.get(visits.pv_path[pv]);
                    acc.visit(visits, v);
                    acc.view(visits.pv_time[pv], want_time);
                }
                continue;
            }
            let key = match self.keying {
                Keying::Bucket => boundary_index(&starts, visits.first_ts[v]) as u32,
                Keying::Visit(_) => self.keys.as_ref().expect("keys of the dimension").keys[v],
                _ => 0,
            };
            let acc = groups.get(key);
            acc.visit(visits, v);
            if chosen.is_none() && !want_time {
                acc.pageviews += u64::from(visits.pageviews(v));
                continue;
            }
            for pv in visits.views(v) {
                if passes(pv) {
                    acc.view(visits.pv_time[pv], want_time);
                }
            }
        }
        Ok((self.answer(groups, &starts), scanned))
    }

    fn answer(&self, mut groups: Groups, starts: &[i64]) -> Value {
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
                let mut acc = groups.take(0).unwrap_or_default();
                Value::Array(vec![row(None, &mut acc)])
            }
            Keying::Bucket => Value::Array(
                starts
                    .iter()
                    .enumerate()
                    .map(|(b, &start)| {
                        let mut acc = groups.take(b as u32).unwrap_or_default();
                        row(Some(("bucket", json!(self.scan.iso(start)))), &mut acc)
                    })
                    .collect(),
            ),
            Keying::Visit(_) | Keying::Page => {
                let project = self.scan.project;
                let label = |k: u32| -> String {
                    let text = match (&self.keys, self.keying) {
                        (Some(keys), Keying::Visit(d)) => keys.label(project, d, k),
                        _ => (k != 0).then(|| project.strings.resolve(k)),
                    };
                    text.unwrap_or(NONE_KEY).to_string()
                };
                let mut ranked: Vec<(String, Acc)> =
                    groups.drain().map(|(k, acc)| (label(k), acc)).collect();
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

/// Accumulators by key: small keys (buckets, string codes of a small project) in a vector,
/// the rest in a map.
#[derive(Default)]
struct Groups {
    dense: Vec<Option<Acc>>,
    sparse: FxHashMap<u32, Acc>,
}

const DENSE_KEYS: u32 = 1 << 16;

impl Groups {
    fn get(&mut self, key: u32) -> &mut Acc {
        if key < DENSE_KEYS {
            let k = key as usize;
            if k >= self.dense.len() {
                self.dense.resize_with(k + 1, || None);
            }
            self.dense[k].get_or_insert_with(Acc::default)
        } else {
            self.sparse.entry(key).or_default()
        }
    }

    fn take(&mut self, key: u32) -> Option<Acc> {
        if key < DENSE_KEYS {
            self.dense.get_mut(key as usize).and_then(Option::take)
        } else {
            self.sparse.remove(&key)
        }
    }

    fn drain(self) -> impl Iterator<Item = (u32, Acc)> {
        self.dense
            .into_iter()
            .enumerate()
            .filter_map(|(k, a)| a.map(|a| (k as u32, a)))
            .chain(self.sparse)
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
    Visit(
        Arc<VisitKeys>,
        Dimension,
        Cond,
        RefCell<FxHashMap<u32, bool>>,
    ),
}

impl WebFilter {
    fn new(filter: &Filter, project: &Project, visits: &Visits) -> WebFilter {
        let all = |items: &[Filter]| {
            items
                .iter()
                .map(|f| WebFilter::new(f, project, visits))
                .collect()
        };
        match filter {
            Filter::All(items) => WebFilter::All(all(items)),
            Filter::Any(items) => WebFilter::Any(all(items)),
            Filter::Not(inner) => WebFilter::Not(Box::new(WebFilter::new(inner, project, visits))),
            Filter::Prop(Named { name, cond }) => match Dimension::named(name.as_str()) {
                Some(Dimension::Page) => WebFilter::Row(Compiled::new(
                    &Filter::Prop(Named {
                        name: "path".into(),
                        cond: cond.clone(),
                    }),
                    project,
                )),
                Some(d) => {
                    WebFilter::Visit(visits.keys(project, d), d, cond.clone(), RefCell::default())
                }
                None => WebFilter::Row(Compiled::new(filter, project)),
            },
            other => WebFilter::Row(Compiled::new(other, project)),
        }
    }

    fn matches(&self, project: &Project, row: usize, visit: usize) -> bool {
        match self {
            WebFilter::All(items) => items.iter().all(|f| f.matches(project, row, visit)),
            WebFilter::Any(items) => items.iter().any(|f| f.matches(project, row, visit)),
            WebFilter::Not(inner) => !inner.matches(project, row, visit),
            WebFilter::Row(c) => c.matches(project, row),
            WebFilter::Visit(keys, d, cond, memo) => {
                let key = keys.keys[visit];
                if let Some(&hit) = memo.borrow().get(&key) {
                    return hit;
                }
                let hit = value_matches(keys.label(project, *d, key), cond);
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
        let with = |rows: Rows,
                    name: &str,
                    ts: i64,
                    who: &str,
                    hot: Vec<(String, String)>,
                    props: Value| {
            let hot: Vec<(&str, &str)> =
                hot.iter().map(|(a, b)| (a.as_str(), b.as_str())).collect();
            rows.event_with(name, ts, who, &hot, props)
        };
        let mut r = Rows::new();
        // a: google → / → /pricing (leave after 12.5 s visible) → signup; 2 visits (gap 30 min).
        r = with(
            r,
            "$pageview",
            T0,
            "a",
            landing("/", "google.com", ""),
            json!({}),
        );
        r = r.pageview(T0 + 20, "a", "/pricing");
        r = with(
            r,
            "$pageleave",
            T0 + 50,
            "a",
            vec![("path".into(), "/pricing".into())],
            json!({"duration_ms": 12500}),
        );
        r = r.event("signup", T0 + 60, "a", json!({}));
        r = with(
            r,
            "$pageview",
            T0 + 60 + 30 * MIN,
            "a",
            landing("/docs", "", ""),
            json!({}),
        );
        // b: newsletter campaign, one page: a bounce.
        r = with(
            r,
            "$pageview",
            T0 + HOUR,
            "b",
            landing("/pricing", "mail.example", "newsletter"),
            json!({}),
        );
        // c: direct, two pages 29 minutes apart: one visit, not a bounce.
        r = with(
            r,
            "$pageview",
            T0 + DAY,
            "c",
            landing("/", "", ""),
            json!({}),
        );
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
            web(
                json!({"dimension": "entry_page", "metrics": ["visits", "bounce_rate"], "limit": 2})
            ),
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
            Some(
                json!([{"bucket": "2026-01-05T00:00:00+00:00", "visits": 3, "time_on_page": 16.25}])
            )
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
