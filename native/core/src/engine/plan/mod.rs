//! A query (SPEC "Query", README "Queries") as the engine runs it: the request body, typed and
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

use serde::Deserialize;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use super::error::{Code, QueryError};
use crate::query::timebucket::Tz;
pub use fields::{
    Bounded, Bucket, Dimensions, Duration, GroupBy, Measure, Name, Order, Period, TimeRange,
    TimeZone, Window, DAY_US,
};
pub use filter::{Cond, Filter, Named, Scalar};

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
}

impl Kind {
    pub const NAMES: [&'static str; 6] = [
        "events",
        "aggregate",
        "funnel",
        "retention",
        "breakdown",
        "path",
    ];

    pub fn name(&self) -> &'static str {
        Self::NAMES[match self {
            Kind::Events(_) => 0,
            Kind::Aggregate(_) => 1,
            Kind::Funnel(_) => 2,
            Kind::Retention(_) => 3,
            Kind::Breakdown(_) => 4,
            Kind::Path(_) => 5,
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
    pub steps: Vec<Step>,
    #[serde(default)]
    pub conversion_window: Window,
    #[serde(default)]
    pub order: Order,
    #[serde(default, deserialize_with = "fields::null_as_default")]
    pub group_by: Dimensions,
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

/// The fields every kind shares (besides `kind`, and `project_id`, which the service resolved).
#[derive(Deserialize, Default)]
struct Shared {
    #[serde(default)]
    time_range: TimeRange,
    #[serde(default)]
    timezone: TimeZone,
    #[serde(default)]
    filter: Option<Filter>,
}

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
    /// service has authorised, at its clock `now_us`.
    pub fn new(
        body: &[u8],
        project: &str,
        now_us: i64,
        limits: &Limits,
    ) -> Result<Plan, QueryError> {
        let (shared, kind) = read(body)?;
        let (from_us, to_us) = shared.time_range.resolve(now_us);
        if to_us <= from_us {
            return Err(QueryError::new(
                Code::InvalidTimeRange,
                "time_range must end after it starts",
            )
            .at("time_range"));
        }
        let max_days = match kind {
            Kind::Events(_) => limits.events_max_days,
            _ => limits.max_days,
        };
        if to_us - from_us > i64::from(max_days) * DAY_US {
            return Err(QueryError::new(
                Code::RangeTooLarge,
                format!("{} queries cover at most {max_days} days", kind.name()),
            )
            .at("time_range")
            .with_limit("limit_days", i64::from(max_days)));
        }
        if let Some(f) = &shared.filter {
            check_size(f, "filter")?;
        }
        match &kind {
            Kind::Aggregate(q)
                if q.time_bucket == Some(Bucket::Hour) && to_us - from_us > MAX_HOURLY_RANGE_US =>
            {
                return Err(QueryError::new(
                    Code::TooManyBuckets,
                    "hourly buckets cover at most 31 days",
                )
                .at("time_bucket"));
            }
            Kind::Funnel(q) => {
                if q.steps.is_empty() || q.steps.len() > MAX_STEPS {
                    return Err(QueryError::new(
                        Code::InvalidSteps,
                        format!("steps is a list of 1 to {MAX_STEPS} steps"),
                    )
                    .at("steps")
                    .with_limit("limit", MAX_STEPS as i64));
                }
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
            tz: shared.timezone.0,
            filter: shared.filter,
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

/// The body split into the shared fields and the kind's own, each read by serde.
fn read(body: &[u8]) -> Result<(Shared, Kind), QueryError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            // Only filters nest; anything this deep is one.
            QueryError::new(Code::FilterTooComplex, "the query nests too deep").at("filter")
        } else {
            QueryError::new(Code::InvalidJson, "the query is not valid JSON")
        }
    })?;
    let Value::Object(mut fields) = value else {
        return Err(QueryError::new(
            Code::InvalidRequest,
            "a query is a JSON object",
        ));
    };
    let Some(Value::String(kind)) = fields.remove("kind") else {
        return Err(unknown_kind());
    };
    fields.remove("project_id");
    let shared: Map<String, Value> = SHARED
        .iter()
        .filter_map(|name| fields.remove_entry(*name))
        .collect();
    // Externally tagged, `{kind: fields}`, so serde reads the kind's struct straight from the
    // map and the path of an error is the field's own.
    let tagged = Value::Object(Map::from_iter([(kind, Value::Object(fields))]));
    let kind: Kind = serde_path_to_error::deserialize(tagged).map_err(|e| {
        let path: Vec<&Segment> = e.path().iter().skip(1).collect();
        if e.path().iter().next().is_none() {
            return unknown_kind();
        }
        code_at(&path, &e.inner().to_string())
    })?;
    let shared: Shared = serde_path_to_error::deserialize(Value::Object(shared)).map_err(|e| {
        let path: Vec<&Segment> = e.path().iter().collect();
        code_at(&path, &e.inner().to_string())
    })?;
    Ok((shared, kind))
}

/// The error for a value serde refused at `path` (below the kind), with serde's `message`.
fn code_at(path: &[&Segment], message: &str) -> QueryError {
    let key = |i: usize| match path.get(i) {
        Some(Segment::Map { key }) => key.as_str(),
        _ => "",
    };
    if path.is_empty() {
        // The kind's own struct: a required field is missing.
        let field = quoted(message).unwrap_or_default();
        let code = if field == "steps" {
            Code::InvalidSteps
        } else {
            Code::InvalidField
        };
        return QueryError::new(code, format!("{field} is required")).at(field);
    }
    let field = render(path);
    if path.len() == 1 && message.starts_with("unknown field") {
        return QueryError::new(Code::UnknownField, message).at(field);
    }
    let in_filter = path
        .iter()
        .any(|s| matches!(s, Segment::Map { key } if key == "filter"));
    let code = if in_filter {
        if message.starts_with("unknown variant") && at_condition(path) {
            Code::UnknownOperator
        } else {
            Code::InvalidFilter
        }
    } else {
        match (key(0), key(1)) {
            ("time_range", "last") => Code::InvalidDuration,
            ("time_range", _) => Code::InvalidTimeRange,
            ("timezone", _) => Code::InvalidTimezone,
            ("conversion_window", _) => Code::InvalidDuration,
            ("measure", _) => Code::InvalidMeasure,
            ("steps", _) => Code::InvalidSteps,
            _ => Code::InvalidField,
        }
    };
    QueryError::new(code, format!("{field}: {message}")).at(field)
}

/// Whether `path` points at a condition (`{op: v}`): the value of `event`, or of a name under
/// `prop` / `trait`. Elsewhere an unknown key is an unknown filter, not an unknown operator.
fn at_condition(path: &[&Segment]) -> bool {
    match path {
        [.., Segment::Enum { variant }] => variant == "event",
        [.., Segment::Enum { variant }, Segment::Map { .. }] => {
            variant == "prop" || variant == "trait"
        }
        _ => false,
    }
}

/// `steps[0].filter.prop.plan`
fn render(path: &[&Segment]) -> String {
    let mut out = String::new();
    for segment in path {
        match segment {
            Segment::Seq { index } => out.push_str(&format!("[{index}]")),
            Segment::Map { key } => push_name(&mut out, key),
            Segment::Enum { variant } => push_name(&mut out, variant),
            Segment::Unknown => push_name(&mut out, "?"),
        }
    }
    out
}

fn push_name(out: &mut String, name: &str) {
    if !out.is_empty() {
        out.push('.');
    }
    out.push_str(name);
}

/// The first `…`-quoted word of a serde message (`missing field `steps``).
fn quoted(message: &str) -> Option<&str> {
    let start = message.find('`')? + 1;
    let len = message[start..].find('`')?;
    Some(&message[start..start + len])
}

#[cfg(test)]
mod tests;
