//! Reading a query body with serde, and the code of what it refuses: where a value does not
//! fit decides the code (`code_at`), as the README lists them.

use serde::de::DeserializeOwned;
use serde::Deserialize;
use serde_json::{Map, Value};
use serde_path_to_error::Segment;

use super::{Kind, TimeRange, MAX_STEPS};
use crate::engine::error::{Code, QueryError};

/// The body as a JSON object.
pub(super) fn object(body: &[u8]) -> Result<Map<String, Value>, QueryError> {
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
pub(super) fn field<T: DeserializeOwned>(
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
pub(super) fn time_range(fields: &mut Map<String, Value>) -> Result<TimeRange, QueryError> {
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
pub(super) fn read_kind(kind: String, fields: Map<String, Value>) -> Result<Kind, QueryError> {
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
pub(super) fn kind_fields(kind: &str) -> &'static [&'static str] {
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
