//! A query (README "Queries") as the engine runs it: the request body, typed and
//! validated here and nowhere else, plus what only the service knows (the project it
//! authorised, its clock, its configured limits).
//!
//! The body is read by serde into `Kind` (one struct per kind, unknown fields denied) and the
//! shared fields. Where a value does not fit decides the error code, as the README lists them:
//! anything under `filter` is `invalid_filter` (or `unknown_operator`), under `steps`
//! `invalid_steps`, under `measure` `invalid_measure`, and so on (`code_at`). What needs more
//! than one field (the range against its limit, hourly buckets, a filter's size) is checked
//! after (`Plan::new`).

pub mod fields;
pub mod filter;
mod iso8601;
mod read;
pub mod web;

use serde::Deserialize;
use serde_json::Value;

use super::error::{Code, QueryError};
use crate::query::timebucket::Tz;
pub use fields::{
    Bounded, Bucket, Dimensions, Duration, GroupBy, Instant, Measure, Name, Order, Period,
    TimeRange, TimeZone, Window, DAY_US,
};
pub use filter::{Cond, Filter, Named, Scalar};
use read::{field, kind_fields, object, read_kind, time_range};
pub use web::{Compare, Dimension, Metric, Metrics, RealtimeQuery, SummaryQuery, WebQuery};

/// A funnel has 1 to this many steps.
pub const MAX_STEPS: usize = 20;
// The funnel kernel keeps a person's reached steps in a u32 mask.
const _: () = assert!(MAX_STEPS <= 32);
/// Hourly buckets cover at most this long a range.
pub const MAX_HOURLY_RANGE_US: i64 = 31 * DAY_US;

/// The service's configured limits (`[analytics]` `raw_query_max_days`, `query_max_days`,
/// `query_max_rows_scanned`), sent with every query so a change applies at once.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    /// The longest range of an `events` query.
    pub events_max_days: u32,
    /// The longest range of every other kind.
    pub max_days: u32,
    /// A query that would scan more rows answers `timeout`; 0 = no limit.
    pub max_rows_scanned: u64,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    Events(EventsQuery),
    Aggregate(AggregateQuery),
    Funnel(FunnelQuery),
    Retention(RetentionQuery),
    Breakdown(BreakdownQuery),
    Path(PathQuery),
    Web(WebQuery),
    Realtime(RealtimeQuery),
    Summary(SummaryQuery),
}

impl Kind {
    pub const NAMES: [&'static str; 9] = [
        "events",
        "aggregate",
        "funnel",
        "retention",
        "breakdown",
        "path",
        "web",
        "realtime",
        "summary",
    ];

    pub fn name(&self) -> &'static str {
        Self::NAMES[match self {
            Kind::Events(_) => 0,
            Kind::Aggregate(_) => 1,
            Kind::Funnel(_) => 2,
            Kind::Retention(_) => 3,
            Kind::Breakdown(_) => 4,
            Kind::Path(_) => 5,
            Kind::Web(_) => 6,
            Kind::Realtime(_) => 7,
            Kind::Summary(_) => 8,
        }]
    }
}

/// Raw rows, newest first.
#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct EventsQuery {
    #[serde(default)]
    pub limit: Bounded<1, 1000, 100>,
}

#[derive(Deserialize, Debug, Clone, PartialEq, Default)]
#[serde(deny_unknown_fields)]
pub struct AggregateQuery {
    #[serde(default, deserialize_with = "fields::null_as_default")]
    pub measure: Measure,
    #[serde(default, deserialize_with = "fields::null_as_default")]
    pub group_by: Dimensions,
    #[serde(default)]
    pub time_bucket: Option<Bucket>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct FunnelQuery {
    pub steps: Steps,
    #[serde(default)]
    pub conversion_window: Window,
    #[serde(default)]
    pub order: Order,
    #[serde(default, deserialize_with = "fields::null_as_default")]
    pub group_by: Dimensions,
}

/// 1 to `MAX_STEPS` steps.
#[derive(Debug, Clone, PartialEq)]
pub struct Steps(Vec<Step>);

impl std::ops::Deref for Steps {
    type Target = [Step];
    fn deref(&self) -> &[Step] {
        &self.0
    }
}

impl<'de> Deserialize<'de> for Steps {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let steps = Vec::<Step>::deserialize(d)?;
        if steps.is_empty() || steps.len() > MAX_STEPS {
            return Err(serde::de::Error::custom(format!(
                "a list of 1 to {MAX_STEPS} steps is expected"
            )));
        }
        Ok(Steps(steps))
    }
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub event: Name,
    #[serde(default)]
    pub filter: Option<Filter>,
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetentionQuery {
    pub cohort_event: Name,
    /// The cohort event when left out.
    #[serde(default)]
    pub return_event: Option<Name>,
    #[serde(default)]
    pub period: Period,
    #[serde(default)]
    pub periods: Bounded<1, 90, 4>,
}

impl RetentionQuery {
    pub fn return_event(&self) -> &Name {
        self.return_event.as_ref().unwrap_or(&self.cohort_event)
    }
}

#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct BreakdownQuery {
    pub prop: Name,
    #[serde(default, deserialize_with = "fields::null_as_default")]
    pub measure: Measure,
    #[serde(default)]
    pub limit: Bounded<1, 1000, 10>,
}

/// Journeys after the first `start_event` or up to the first `end_event`: exactly one of them.
#[derive(Deserialize, Debug, Clone, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PathQuery {
    #[serde(default)]
    pub start_event: Option<Name>,
    #[serde(default)]
    pub end_event: Option<Name>,
    #[serde(default)]
    pub depth: Bounded<1, 20, 5>,
    #[serde(default)]
    pub limit: Bounded<1, 1000, 10>,
}

/// Where a path query is anchored.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Anchor<'a> {
    Start(&'a Name),
    End(&'a Name),
}

impl PathQuery {
    pub fn anchor(&self) -> Result<Anchor<'_>, QueryError> {
        match (&self.start_event, &self.end_event) {
            (Some(start), None) => Ok(Anchor::Start(start)),
            (None, Some(end)) => Ok(Anchor::End(end)),
            _ => Err(QueryError::new(
                Code::InvalidField,
                "name exactly one of start_event and end_event",
            )
            .at("start_event")),
        }
    }
}

/// The fields every kind has besides `kind` (and `project_id`, which the service resolved),
/// read in this order after the kind and its unknown fields, then the kind's own.
const SHARED: [&str; 3] = ["time_range", "timezone", "filter"];

/// A validated query, ready to run.
#[derive(Debug, Clone, PartialEq)]
pub struct Plan {
    pub project: String,
    /// `[from_us, to_us)`, epoch µs.
    pub from_us: i64,
    pub to_us: i64,
    /// The service's clock: marks retention periods that have not ended.
    pub now_us: i64,
    pub tz: Tz,
    pub filter: Option<Filter>,
    pub max_rows_scanned: u64,
    pub kind: Kind,
}

impl Plan {
    /// The plan of a query body (JSON bytes, as the client sent them) for `project`, which the
    /// service has authorised, at its clock `now_us`. With several faults, the first of: the
    /// kind, an unknown field, `time_range` (and its length), `timezone`, `filter`, the kind's
    /// own fields.
    pub fn new(
        body: &[u8],
        project: &str,
        now_us: i64,
        limits: &Limits,
    ) -> Result<Plan, QueryError> {
        let mut fields = object(body)?;
        let kind = match fields.remove("kind") {
            Some(Value::String(kind)) if Kind::NAMES.contains(&kind.as_str()) => kind,
            _ => return Err(unknown_kind()),
        };
        fields.remove("project_id");
        let own = kind_fields(&kind);
        if let Some(name) = fields
            .keys()
            .find(|k| !SHARED.contains(&k.as_str()) && !own.contains(&k.as_str()))
        {
            return Err(QueryError::new(
                Code::UnknownField,
                format!(
                    "unknown field `{name}` for kind {kind}; its fields are {}",
                    own.join(", ")
                ),
            )
            .at(name.as_str()));
        }
        let time_range = time_range(&mut fields)?;
        let (from_us, to_us) = time_range.resolve(now_us);
        if to_us <= from_us {
            return Err(QueryError::new(
                Code::InvalidTimeRange,
                "time_range must end after it starts",
            )
            .at("time_range"));
        }
        let max_days = if kind == "events" {
            limits.events_max_days
        } else {
            limits.max_days
        };
        if to_us - from_us > i64::from(max_days) * DAY_US {
            return Err(QueryError::new(
                Code::RangeTooLarge,
                format!("{kind} queries cover at most {max_days} days"),
            )
            .at("time_range")
            .with_limit("limit_days", i64::from(max_days)));
        }
        let tz: TimeZone = field(&mut fields, "timezone", &[])?.unwrap_or_default();
        let filter: Option<Filter> = field(&mut fields, "filter", &[])?.flatten();
        if let Some(f) = &filter {
            check_size(f, "filter")?;
        }
        let kind = read_kind(kind, fields)?;
        let bucket = match &kind {
            Kind::Aggregate(q) => q.time_bucket,
            Kind::Web(q) => q.time_bucket,
            _ => None,
        };
        if bucket == Some(Bucket::Hour) && to_us - from_us > MAX_HOURLY_RANGE_US {
            return Err(QueryError::new(
                Code::TooManyBuckets,
                "hourly buckets cover at most 31 days",
            )
            .at("time_bucket"));
        }
        match &kind {
            Kind::Aggregate(q) if q.measure.is_actives() && q.time_bucket != Some(Bucket::Day) => {
                return Err(QueryError::new(
                    Code::InvalidMeasure,
                    "dau, wau and mau are counted per day: they need time_bucket 1d",
                )
                .at("measure"));
            }
            Kind::Breakdown(q) if q.measure.is_actives() => {
                return Err(QueryError::new(
                    Code::InvalidMeasure,
                    "dau, wau and mau are aggregate measures (with time_bucket 1d)",
                )
                .at("measure"));
            }
            Kind::Web(q) if q.dimension.is_some() && q.time_bucket.is_some() => {
                return Err(QueryError::new(
                    Code::InvalidField,
                    "a web query has a dimension or a time_bucket, not both",
                )
                .at("dimension"));
            }
            Kind::Web(q)
                if q.compare.is_some()
                    && matches!(time_range, TimeRange::Between { to: None, .. }) =>
            {
                return Err(QueryError::new(
                    Code::InvalidField,
                    "compare needs a closed time_range: {\"from\", \"to\"} or {\"last\"}",
                )
                .at("compare"));
            }
            Kind::Funnel(q) => {
                for (i, step) in q.steps.iter().enumerate() {
                    if let Some(f) = &step.filter {
                        check_size(f, &format!("steps[{i}].filter"))?;
                    }
                }
            }
            Kind::Path(q) => {
                q.anchor()?;
            }
            _ => {}
        }
        Ok(Plan {
            project: project.to_string(),
            from_us,
            to_us,
            now_us,
            tz: tz.0,
            filter,
            max_rows_scanned: limits.max_rows_scanned,
            kind,
        })
    }
}

fn check_size(f: &Filter, field: &str) -> Result<(), QueryError> {
    if f.within_limits() {
        return Ok(());
    }
    Err(QueryError::new(
        Code::FilterTooComplex,
        format!(
            "filters may nest {} deep and hold {} conditions",
            filter::MAX_DEPTH,
            filter::MAX_CONDITIONS
        ),
    )
    .at(field))
}

fn unknown_kind() -> QueryError {
    QueryError::new(
        Code::UnknownKind,
        format!("kind must be one of {}", Kind::NAMES.join(", ")),
    )
    .at("kind")
}

#[cfg(test)]
mod tests;
