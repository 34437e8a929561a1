//! Lazy JSON: a request body is read in one pass into just the structure ingest needs (the
//! envelope, each event's fields, the first level of `properties` / `context`), with every
//! deeper value kept as a raw slice of the body. Nothing is built into a tree only to be
//! written out again. serde_json validates the syntax; this module adds what PostgreSQL
//! `jsonb` needs on top (no U+0000, no lone surrogates, bounded nesting) while producing
//! compact text.

use std::borrow::Cow;
use std::fmt;
use std::marker::PhantomData;

use serde::de::{
    Deserialize, DeserializeSeed, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor,
};
use serde_json::value::RawValue;
use serde_json::Value;

/// Deepest nesting of arrays/objects accepted in a body (serde_json's own recursion limit).
pub const MAX_DEPTH: usize = 128;

/// A string borrowed from the body when it has no escapes, owned otherwise.
pub struct Text<'a>(pub Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for Text<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = Text<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E>(self, v: &'de str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Borrowed(v)))
            }
            fn visit_str<E>(self, v: &str) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v.to_string())))
            }
            fn visit_string<E>(self, v: String) -> Result<Text<'a>, E> {
                Ok(Text(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V(PhantomData))
    }
}

/// One level of a JSON object: keys and the raw text of their values, in body order.
#[derive(Debug, Default)]
pub struct RawObject<'a>(pub Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for RawObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(RawObjectVisitor(PhantomData))
    }
}

struct RawObjectVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for RawObjectVisitor<'a> {
    type Value = RawObject<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<RawObject<'a>, A::Error> {
        let mut fields = Vec::with_capacity(map.size_hint().unwrap_or(8));
        while let Some(Text(k)) = map.next_key::<Text<'a>>()? {
            let v: &'a RawValue = map.next_value()?;
            fields.push((k, v));
        }
        Ok(RawObject(fields))
    }
}

impl<'a> RawObject<'a> {
    /// Parses `raw` when it is an object.
    pub fn parse(raw: &'a RawValue) -> Option<Self> {
        if kind(raw) != Kind::Object {
            return None;
        }
        serde_json::from_str(raw.get()).ok()
    }

    /// The value of `key`; with duplicate keys the last wins, as in `jsonb`.
    pub fn get(&self, key: &str) -> Option<&'a RawValue> {
        self.0.iter().rev().find(|(k, _)| k == key).map(|(_, v)| *v)
    }

    /// `key`'s value when it is a non-empty string.
    pub fn str(&self, key: &str) -> Option<Cow<'a, str>> {
        as_str(self.get(key)?).filter(|s| !s.is_empty())
    }

    /// `key`'s value when it is an object.
    pub fn object(&self, key: &str) -> Option<RawObject<'a>> {
        RawObject::parse(self.get(key)?)
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

/// A field whose value should be an object (`properties`, `context`, `traits`), read one
/// level deep in the same pass as its event.
#[derive(Debug)]
pub enum MaybeObject<'a> {
    Null,
    Object(RawObject<'a>),
    NotObject,
}

struct MaybeObjectSeed;

impl<'de> DeserializeSeed<'de> for MaybeObjectSeed {
    type Value = MaybeObject<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeObject<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                RawObjectVisitor(PhantomData)
                    .visit_map(map)
                    .map(MaybeObject::Object)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(MaybeObject::Null)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(MaybeObject::NotObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(MaybeObject::NotObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(MaybeObject::NotObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(MaybeObject::NotObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(MaybeObject::NotObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(MaybeObject::NotObject)
            }
        }
        d.deserialize_any(V)
    }
}

/// One event object: its scalar fields raw, `properties` / `traits` / `context` one level deep.
#[derive(Debug, Default)]
pub struct EventObject<'a> {
    /// Every field except the three below, in body order.
    pub fields: RawObject<'a>,
    pub properties: Option<MaybeObject<'a>>,
    pub traits: Option<MaybeObject<'a>>,
    pub context: Option<MaybeObject<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for EventObject<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_map(EventVisitor(PhantomData))
    }
}

struct EventVisitor<'a>(PhantomData<&'a ()>);

impl<'de: 'a, 'a> Visitor<'de> for EventVisitor<'a> {
    type Value = EventObject<'a>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a JSON object")
    }
    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<EventObject<'a>, A::Error> {
        let mut ev = EventObject {
            fields: RawObject(Vec::with_capacity(10)),
            ..Default::default()
        };
        while let Some(Text(k)) = map.next_key::<Text<'a>>()? {
            let slot = match k.as_ref() {
                "properties" => &mut ev.properties,
                "traits" => &mut ev.traits,
                "context" => &mut ev.context,
                _ => {
                    let v: &'a RawValue = map.next_value()?;
                    ev.fields.0.push((k, v));
                    continue;
                }
            };
            *slot = Some(map.next_value_seed(MaybeObjectSeed)?);
        }
        Ok(ev)
    }
}

/// One element of a batch.
#[derive(Debug)]
pub enum Element<'a> {
    Event(EventObject<'a>),
    NotObject,
}

struct ElementSeed;

impl<'de> DeserializeSeed<'de> for ElementSeed {
    type Value = Element<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Element<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                EventVisitor(PhantomData).visit_map(map).map(Element::Event)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                while seq.next_element::<IgnoredAny>()?.is_some() {}
                Ok(Element::NotObject)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(Element::NotObject)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(Element::NotObject)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(Element::NotObject)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(Element::NotObject)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(Element::NotObject)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(Element::NotObject)
            }
        }
        d.deserialize_any(V)
    }
}

/// The value of `batch` / `events`.
#[derive(Debug)]
pub enum EventList<'a> {
    Null,
    List(Vec<Element<'a>>),
    NotList,
}

struct EventListSeed;

impl<'de> DeserializeSeed<'de> for EventListSeed {
    type Value = EventList<'de>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = EventList<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("any JSON value")
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut list = Vec::with_capacity(seq.size_hint().unwrap_or(16).min(128));
                while let Some(el) = seq.next_element_seed(ElementSeed)? {
                    list.push(el);
                }
                Ok(EventList::List(list))
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                while map.next_entry::<IgnoredAny, IgnoredAny>()?.is_some() {}
                Ok(EventList::NotList)
            }
            fn visit_unit<E>(self) -> Result<Self::Value, E> {
                Ok(EventList::Null)
            }
            fn visit_bool<E>(self, _: bool) -> Result<Self::Value, E> {
                Ok(EventList::NotList)
            }
            fn visit_i64<E>(self, _: i64) -> Result<Self::Value, E> {
                Ok(EventList::NotList)
            }
            fn visit_u64<E>(self, _: u64) -> Result<Self::Value, E> {
                Ok(EventList::NotList)
            }
            fn visit_f64<E>(self, _: f64) -> Result<Self::Value, E> {
                Ok(EventList::NotList)
            }
            fn visit_str<E>(self, _: &str) -> Result<Self::Value, E> {
                Ok(EventList::NotList)
            }
        }
        d.deserialize_any(V)
    }
}

impl<'de> Deserialize<'de> for EventList<'de> {
    /// A body that is a bare list of events (drop-in capture).
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        EventListSeed.deserialize(d)
    }
}

/// A `/batch` body: envelope fields raw, `batch` / `events` parsed down to each event.
#[derive(Debug, Default)]
pub struct BatchBody<'a> {
    /// Every field except `batch` and `events`, in body order.
    pub fields: RawObject<'a>,
    pub batch: Option<EventList<'a>>,
    pub events: Option<EventList<'a>>,
}

impl<'de: 'a, 'a> Deserialize<'de> for BatchBody<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V<'a>(PhantomData<&'a ()>);
        impl<'de: 'a, 'a> Visitor<'de> for V<'a> {
            type Value = BatchBody<'a>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a JSON object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<BatchBody<'a>, A::Error> {
                let mut body = BatchBody::default();
                while let Some(Text(k)) = map.next_key::<Text<'a>>()? {
                    let slot = match k.as_ref() {
                        "batch" => &mut body.batch,
                        "events" => &mut body.events,
                        _ => {
                            let v: &'a RawValue = map.next_value()?;
                            body.fields.0.push((k, v));
                            continue;
                        }
                    };
                    *slot = Some(map.next_value_seed(EventListSeed)?);
                }
                Ok(body)
            }
        }
        d.deserialize_map(V(PhantomData))
    }
}

/// The JSON type of a raw value, from its first byte.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Null,
    Bool,
    Number,
    String,
    Array,
    Object,
}

pub fn kind(raw: &RawValue) -> Kind {
    match raw.get().as_bytes().first() {
        Some(b'{') => Kind::Object,
        Some(b'[') => Kind::Array,
        Some(b'"') => Kind::String,
        Some(b'n') => Kind::Null,
        Some(b't' | b'f') => Kind::Bool,
        _ => Kind::Number,
    }
}

pub fn as_str(raw: &RawValue) -> Option<Cow<'_, str>> {
    if kind(raw) != Kind::String {
        return None;
    }
    serde_json::from_str::<Text<'_>>(raw.get())
        .ok()
        .map(|t| t.0)
}

/// A small scalar as a `Value` (numbers and strings for timestamps and versions).
pub fn to_value(raw: &RawValue) -> Option<Value> {
    serde_json::from_str(raw.get()).ok()
}

/// Why JSON text cannot be stored in a `jsonb` column.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TextProblem {
    /// `\u0000` in a key or string.
    Nul,
    /// A `\uD800`–`\uDFFF` escape that is not a valid surrogate pair.
    LoneSurrogate,
    /// Arrays/objects nested deeper than allowed.
    TooDeep,
}

/// Appends `raw` (valid JSON) to `out` without insignificant whitespace, checking strings
/// for what `jsonb` refuses and nesting against `max_depth` (levels inside `raw`).
pub fn write_compact(raw: &str, out: &mut String, max_depth: usize) -> Result<(), TextProblem> {
    let b = raw.as_bytes();
    let mut buf = std::mem::take(out).into_bytes();
    buf.reserve(b.len());
    let result = compact_bytes(b, &mut buf, max_depth);
    // Only whole tokens of valid UTF-8 input were copied: the bytes are still UTF-8.
    *out = String::from_utf8(buf)
        .unwrap_or_else(|e| String::from_utf8_lossy(e.as_bytes()).into_owned());
    result
}

fn compact_bytes(b: &[u8], buf: &mut Vec<u8>, max_depth: usize) -> Result<(), TextProblem> {
    let mut depth = 0usize;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'"' => {
                let start = i;
                i = string_end(b, i + 1)?;
                buf.extend_from_slice(&b[start..i]);
            }
            _ => {
                // A run of structure, numbers and literals up to the next string or space.
                let start = i;
                while i < b.len() {
                    match b[i] {
                        b'"' | b' ' | b'\t' | b'\n' | b'\r' => break,
                        b'[' | b'{' => {
                            depth += 1;
                            if depth > max_depth {
                                return Err(TextProblem::TooDeep);
                            }
                        }
                        b']' | b'}' => depth = depth.saturating_sub(1),
                        _ => {}
                    }
                    i += 1;
                }
                buf.extend_from_slice(&b[start..i]);
            }
        }
    }
    Ok(())
}

/// Index just past the closing quote of the string whose body starts at `i`, checking its
/// `\u` escapes.
fn string_end(b: &[u8], mut i: usize) -> Result<usize, TextProblem> {
    while i < b.len() {
        match b[i] {
            b'"' => return Ok(i + 1),
            b'\\' if b.get(i + 1) == Some(&b'u') => match hex4(b, i + 2) {
                Some(0) => return Err(TextProblem::Nul),
                Some(0xD800..=0xDBFF) => {
                    let low = if b.get(i + 6) == Some(&b'\\') && b.get(i + 7) == Some(&b'u') {
                        hex4(b, i + 8)
                    } else {
                        None
                    };
                    if !matches!(low, Some(0xDC00..=0xDFFF)) {
                        return Err(TextProblem::LoneSurrogate);
                    }
                    i += 12;
                }
                Some(0xDC00..=0xDFFF) => return Err(TextProblem::LoneSurrogate),
                _ => i += 6,
            },
            b'\\' => i += 2,
            _ => i += 1,
        }
    }
    Ok(b.len())
}

/// `raw` as compact text (nesting up to [`MAX_DEPTH`]).
pub fn compact(raw: &str) -> Result<String, TextProblem> {
    let mut s = String::new();
    write_compact(raw, &mut s, MAX_DEPTH).map(|_| s)
}

/// Compact text of an object read one level deep, leaving out the `skip` keys; values may
/// nest `max_depth` levels below the object itself.
pub fn write_object(
    obj: &RawObject<'_>,
    skip: &[&str],
    out: &mut String,
    max_depth: usize,
) -> Result<(), TextProblem> {
    out.reserve(
        2 + obj
            .0
            .iter()
            .map(|(k, v)| k.len() + v.get().len() + 4)
            .sum::<usize>(),
    );
    out.push('{');
    let mut first = true;
    for (k, v) in &obj.0 {
        if skip.contains(&k.as_ref()) {
            continue;
        }
        if !first {
            out.push(',');
        }
        first = false;
        match k {
            // Borrowed means the key had no escapes in the body, so it needs none now.
            Cow::Borrowed(k) => {
                out.push('"');
                out.push_str(k);
                out.push('"');
            }
            Cow::Owned(k) => {
                if k.contains('\0') {
                    return Err(TextProblem::Nul);
                }
                out.push_str(&serde_json::to_string(k).unwrap_or_default());
            }
        }
        out.push(':');
        write_compact(v.get(), out, max_depth)?;
    }
    out.push('}');
    Ok(())
}

fn hex4(b: &[u8], at: usize) -> Option<u32> {
    let digits = b.get(at..at + 4)?;
    let mut v = 0u32;
    for &d in digits {
        v = v * 16 + (d as char).to_digit(16)?;
    }
    Some(v)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw(s: &str) -> Box<RawValue> {
        RawValue::from_string(s.to_string()).unwrap()
    }

    #[test]
    fn raw_object_keeps_order_and_borrows() {
        let text = r#"{"b": 1, "a\n": {"x": [1, 2]}, "b": "last"}"#;
        let obj: RawObject = serde_json::from_str(text).unwrap();
        let keys: Vec<_> = obj.0.iter().map(|(k, _)| k.as_ref()).collect();
        assert_eq!(keys, ["b", "a\n", "b"]);
        assert!(matches!(obj.0[0].0, Cow::Borrowed(_)));
        assert!(matches!(obj.0[1].0, Cow::Owned(_)));
        assert_eq!(obj.get("b").unwrap().get(), "\"last\"");
        assert_eq!(obj.str("b").as_deref(), Some("last"));
        assert_eq!(obj.object("a\n").unwrap().get("x").unwrap().get(), "[1, 2]");
        assert!(obj.object("b").is_none());
    }

    #[test]
    fn kinds_and_strings() {
        assert_eq!(kind(&raw("null")), Kind::Null);
        assert_eq!(kind(&raw("-1.5")), Kind::Number);
        assert_eq!(kind(&raw("[]")), Kind::Array);
        assert_eq!(as_str(&raw(r#""caf\u00e9""#)).as_deref(), Some("café"));
        assert_eq!(as_str(&raw("5")), None);
    }

    #[test]
    fn compacts_whitespace_outside_strings_only() {
        let text = "{ \"a b\" : [ 1 , 2.5e3 , true , null ] ,\n\t\"s\" : \"x  \\\" y\" }";
        assert_eq!(
            compact(text).unwrap(),
            r#"{"a b":[1,2.5e3,true,null],"s":"x  \" y"}"#
        );
        let v: Value = serde_json::from_str(text).unwrap();
        assert_eq!(
            serde_json::from_str::<Value>(&compact(text).unwrap()).unwrap(),
            v
        );
        assert_eq!(
            compact(r#"{"k":"日本 ✓ \ud83d\ude80"}"#).unwrap(),
            r#"{"k":"日本 ✓ \ud83d\ude80"}"#
        );
    }

    #[test]
    fn refuses_nul_and_lone_surrogates() {
        assert_eq!(compact(r#"{"a":"x\u0000"}"#), Err(TextProblem::Nul));
        assert_eq!(compact(r#"{"\u0000":1}"#), Err(TextProblem::Nul));
        assert_eq!(
            compact(r#"{"a":"\\u0000"}"#),
            Ok(r#"{"a":"\\u0000"}"#.to_string())
        );
        assert_eq!(compact(r#"["\ud800"]"#), Err(TextProblem::LoneSurrogate));
        assert_eq!(
            compact(r#"["\ud800\u0041"]"#),
            Err(TextProblem::LoneSurrogate)
        );
        assert_eq!(compact(r#"["\udc00"]"#), Err(TextProblem::LoneSurrogate));
        assert_eq!(
            compact(r#"["\uD83D\uDE80"]"#),
            Ok(r#"["\uD83D\uDE80"]"#.to_string())
        );
    }

    #[test]
    fn nesting_depth() {
        let c = |s: &str, max| {
            let mut out = String::new();
            write_compact(s, &mut out, max)
        };
        assert_eq!(c("[[[]]]", 3), Ok(()));
        assert_eq!(c("[[[[]]]]", 3), Err(TextProblem::TooDeep));
        assert_eq!(c(r#"["[[[[[[", "\"[[[["]"#, 1), Ok(()));
        assert_eq!(c(r#"{"a":[{"b":1}],"c":{}}"#, 3), Ok(()));
    }

    #[test]
    fn writes_objects_without_skipped_keys() {
        let text = r#"{ "ip": "1.2.3.4", "page": { "url": "x" }, "k\"q": 1, "user_agent": "ua" }"#;
        let obj: RawObject = serde_json::from_str(text).unwrap();
        let mut out = String::new();
        write_object(&obj, &["ip", "user_agent"], &mut out, 10).unwrap();
        assert_eq!(out, r#"{"page":{"url":"x"},"k\"q":1}"#);
        let mut out = String::new();
        write_object(&RawObject::default(), &[], &mut out, 10).unwrap();
        assert_eq!(out, "{}");
    }

    #[test]
    fn one_pass_batch_body() {
        let text = r#"{"sent_at": 5, "batch": [{"event": "e", "properties": {"a": [1]}, "context": null}, 7, {"traits": "x"}]}"#;
        let body: BatchBody = serde_json::from_str(text).unwrap();
        assert_eq!(body.fields.0.len(), 1);
        assert!(body.events.is_none());
        let Some(EventList::List(list)) = body.batch else {
            panic!("list")
        };
        assert_eq!(list.len(), 3);
        let Element::Event(ev) = &list[0] else {
            panic!("event")
        };
        assert_eq!(ev.fields.str("event").as_deref(), Some("e"));
        assert!(
            matches!(&ev.properties, Some(MaybeObject::Object(o)) if o.get("a").unwrap().get() == "[1]")
        );
        assert!(matches!(ev.context, Some(MaybeObject::Null)));
        assert!(matches!(list[1], Element::NotObject));
        let Element::Event(ev) = &list[2] else {
            panic!("event")
        };
        assert!(matches!(ev.traits, Some(MaybeObject::NotObject)));
        let body: BatchBody = serde_json::from_str(r#"{"events": {"a": 1}}"#).unwrap();
        assert!(matches!(body.events, Some(EventList::NotList)));
    }
}
