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

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use super::error::{Code, QueryError};
use crate::query::timebucket::Tz;
pub use fields::{
    Bounded, Bucket, Dimensions, Duration, GroupBy, Instant, Measure, Name, Order, Period,
    TimeRange, TimeZone, Window, DAY_US,
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

/// The body as a JSON object.
fn object(body: &[u8]) -> Result<Map<String, Value>, QueryError> {
    let value: Value = serde_json::from_slice(body).map_err(|e| {
        if e.to_string().starts_with("recursion limit exceeded") {
            // Only filters nest; anything this deep is one.
            QueryError::new(Code::FilterTooComplex, "the query nests too deep").at("filter")
        } else {
            QueryError::new(Code::InvalidJson, "the query is not valid JSON")
        }
    })?;
    match value {
        Value::Object(fields) => Ok(fields),
        _ => Err(QueryError::new(
            Code::InvalidRequest,
            "a query is a JSON object",
        )),
    }
}

/// One field, taken out of `fields` (which sit at `within`); `None` when absent.
fn field<T: DeserializeOwned>(
    fields: &mut Map<String, Value>,
    name: &str,
    within: &[&str],
) -> Result<Option<T>, QueryError> {
    let Some(value) = fields.remove(name) else {
        return Ok(None);
    };
    serde_path_to_error::deserialize(value)
        .map(Some)
        .map_err(|e| {
            let keys: Vec<Segment> = within
                .iter()
                .chain([&name])
                .map(|key| Segment::Map {
                    key: key.to_string(),
                })
                .collect();
            let path: Vec<&Segment> = keys.iter().chain(e.path().iter()).collect();
            code_at(&path, &e.inner().to_string())
        })
}

/// `time_range`: its shape (`{"last"}` or `{"from", "to"?}`) first, then its values.
fn time_range(fields: &mut Map<String, Value>) -> Result<TimeRange, QueryError> {
    let shape = || {
        QueryError::new(
            Code::InvalidTimeRange,
            r#"time_range is {"last": "30d"} or {"from": …, "to": …}"#,
        )
        .at("time_range")
    };
    let mut range = match fields.remove("time_range") {
        None => return Ok(TimeRange::default()),
        Some(Value::Object(range)) => range,
        Some(_) => return Err(shape()),
    };
    let within = ["time_range"];
    if range.len() == 1 && range.contains_key("last") {
        let last = field(&mut range, "last", &within)?.ok_or_else(shape)?;
        return Ok(TimeRange::Last(last));
    }
    if range.contains_key("from") && range.keys().all(|k| k == "from" || k == "to") {
        let from = field(&mut range, "from", &within)?.ok_or_else(shape)?;
        let to = field(&mut range, "to", &within)?;
        return Ok(TimeRange::Between { from, to });
    }
    Err(shape())
}

/// The kind's own fields. serde reads a map's keys in sorted order; a faulty body is read again
/// a field at a time, in the order the kind declares them (a missing required one first), so the
/// fault reported is the first the README lists.
fn read_kind(kind: String, fields: Map<String, Value>) -> Result<Kind, QueryError> {
    decode_kind(&kind, fields.clone()).map_err(|e| first_fault(&kind, &fields).unwrap_or(e))
}

fn first_fault(kind: &str, fields: &Map<String, Value>) -> Option<QueryError> {
    if let Err(missing) = decode_kind(kind, Map::new()) {
        if missing
            .field
            .as_ref()
            .is_some_and(|name| !fields.contains_key(name))
        {
            return Some(missing);
        }
    }
    kind_fields(kind).iter().find_map(|&name| {
        let value = fields.get(name)?.clone();
        let fault = decode_kind(kind, Map::from_iter([(name.to_string(), value)])).err()?;
        let at = fault.field.as_deref()?;
        let within = at == name
            || at.starts_with(&format!("{name}."))
            || at.starts_with(&format!("{name}["));
        within.then_some(fault)
    })
}

/// Externally tagged, `{kind: fields}`, so serde reads the kind's struct straight from the map
/// and the path of an error is the field's own.
fn decode_kind(kind: &str, fields: Map<String, Value>) -> Result<Kind, QueryError> {
    let tagged = Value::Object(Map::from_iter([(kind.to_string(), Value::Object(fields))]));
    serde_path_to_error::deserialize(tagged).map_err(|e| {
        let path: Vec<&Segment> = e.path().iter().skip(1).collect();
        code_at(&path, &e.inner().to_string())
    })
}

/// The field names of a kind's struct, as serde's derive declares them: it is asked to read
/// the kind from a probe that records them, so they are never written out twice.
fn kind_fields(kind: &str) -> &'static [&'static str] {
    let seen = std::cell::Cell::new(None);
    let _ = Kind::deserialize(probe::Probe { kind, seen: &seen });
    seen.get().unwrap_or(&[])
}

mod probe {
    use std::cell::Cell;

    use serde::de::value::{Error, StrDeserializer};
    use serde::de::{
        self, DeserializeSeed, Deserializer, EnumAccess, IntoDeserializer, VariantAccess, Visitor,
    };

    pub struct Probe<'a> {
        pub kind: &'a str,
        pub seen: &'a Cell<Option<&'static [&'static str]>>,
    }

    fn stop<T>() -> Result<T, Error> {
        Err(de::Error::custom("probe"))
    }

    impl<'de> Deserializer<'de> for Probe<'_> {
        type Error = Error;

        fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Error> {
            stop()
        }

        fn deserialize_enum<V: Visitor<'de>>(
            self,
            _: &'static str,
            _: &'static [&'static str],
            visitor: V,
        ) -> Result<V::Value, Error> {
            visitor.visit_enum(self)
        }

        fn deserialize_struct<V: Visitor<'de>>(
            self,
            _: &'static str,
            fields: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            self.seen.set(Some(fields));
            stop()
        }

        serde::forward_to_deserialize_any! {
            bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
            option unit unit_struct newtype_struct seq tuple tuple_struct map identifier ignored_any
        }
    }

    impl<'de> EnumAccess<'de> for Probe<'_> {
        type Error = Error;
        type Variant = Self;

        fn variant_seed<V: DeserializeSeed<'de>>(self, seed: V) -> Result<(V::Value, Self), Error> {
            let name: StrDeserializer<'_, Error> = self.kind.into_deserializer();
            Ok((seed.deserialize(name)?, self))
        }
    }

    impl<'de> VariantAccess<'de> for Probe<'_> {
        type Error = Error;

        fn unit_variant(self) -> Result<(), Error> {
            stop()
        }

        fn newtype_variant_seed<T: DeserializeSeed<'de>>(self, seed: T) -> Result<T::Value, Error> {
            seed.deserialize(self)
        }

        fn tuple_variant<V: Visitor<'de>>(self, _: usize, _: V) -> Result<V::Value, Error> {
            stop()
        }

        fn struct_variant<V: Visitor<'de>>(
            self,
            _: &'static [&'static str],
            _: V,
        ) -> Result<V::Value, Error> {
            stop()
        }
    }
}

/// The error for a value serde refused at `path` (below the kind), with serde's `message`.
fn code_at(path: &[&Segment], message: &str) -> QueryError {
    if path.is_empty() {
        // The kind's own struct: a required field is missing.
        let field = quoted(message).unwrap_or_default();
        return coded(field_code(field, ""), format!("{field} is required"), field);
    }
    let field = render(path);
    if path.len() == 1 && message.starts_with("unknown field") {
        return QueryError::new(Code::UnknownField, message).at(field);
    }
    let in_filter = path
        .iter()
        .any(|s| matches!(s, Segment::Map { key } if key == "filter"));
    let code = if !in_filter {
        let key = |i: usize| match path.get(i) {
            Some(Segment::Map { key }) => key.as_str(),
            _ => "",
        };
        field_code(key(0), key(1))
    } else if message.starts_with("unknown variant") && at_condition(path) {
        Code::UnknownOperator
    } else {
        Code::InvalidFilter
    };
    coded(code, format!("{field}: {message}"), &field)
}

/// The code of a fault in `field` (and its `sub` field), outside filters.
fn field_code(field: &str, sub: &str) -> Code {
    match (field, sub) {
        ("time_range", "last") => Code::InvalidDuration,
        ("time_range", _) => Code::InvalidTimeRange,
        ("timezone", _) => Code::InvalidTimezone,
        ("conversion_window", _) => Code::InvalidDuration,
        ("measure", _) => Code::InvalidMeasure,
        ("steps", _) => Code::InvalidSteps,
        _ => Code::InvalidField,
    }
}

fn coded(code: Code, message: String, field: &str) -> QueryError {
    let error = QueryError::new(code, message).at(field);
    if field == "steps" {
        // "steps is a list of 1 to 20 steps": the limit travels with it.
        return error.with_limit("limit", MAX_STEPS as i64);
    }
    error
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
