//! Request parsing and per-event validation: HTTP body → envelope → one validated,
//! normalised [`Event`] or one [`RejectReason`] per event, in request order.

use std::borrow::Cow;
use std::collections::HashSet;

use serde_json::value::RawValue;

use crate::cookieless;
use crate::enrich::{self, Event, Hints, RequestDefaults};
use crate::fingerprint;
use crate::geoip::GeoDb;
use crate::json::{
    self, BatchBody, Element, EventList, EventObject, Kind, MaybeObject, RawObject, TextProblem,
};
use crate::reject::{clip, RejectReason, RequestError};
use crate::time::{self, Micros};

/// Which endpoint the body came to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RequestKind {
    Track,
    Batch,
    Identify,
    Alias,
}

impl RequestKind {
    pub fn parse(name: &str) -> Result<Self, RequestError> {
        match name {
            "track" => Ok(RequestKind::Track),
            "batch" => Ok(RequestKind::Batch),
            "identify" => Ok(RequestKind::Identify),
            "alias" => Ok(RequestKind::Alias),
            other => Err(RequestError::invalid_request(format!(
                "unknown request kind '{}'",
                clip(other)
            ))),
        }
    }
}

/// What the HTTP layer knows about the request besides its body.
#[derive(Debug, Clone, Copy, Default)]
pub struct RequestInfo<'a> {
    pub received_at_ms: i64,
    pub ip: Option<&'a str>,
    pub user_agent: Option<&'a str>,
    pub accept_language: Option<&'a str>,
    /// The geo database the country of `ip` (or of an event's `context.ip`) is looked up in.
    pub geo: Option<&'a GeoDb>,
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub max_properties_bytes: usize,
    pub max_batch_events: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_properties_bytes: 32 * 1024,
            max_batch_events: 100,
        }
    }
}

/// A request whose body was understood. Per-project checks happen in [`crate::encode`].
#[derive(Debug, Clone)]
pub struct ParsedRequest {
    /// Top-level `project_id` (the event's own for track/identify/alias, the envelope's for batch).
    pub project_id: Option<String>,
    /// Top-level `key` or `api_key`: a project public key sent in the body (sendBeacon).
    pub key: Option<String>,
    /// Distinct anonymous_ids of the valid events, first-seen order (for the opt-out lookup).
    pub anonymous_ids: Vec<String>,
    /// One slot per event in request order.
    pub events: Vec<Result<Event, RejectReason>>,
    /// `received_at` of the request.
    pub received_at: Micros,
    /// Whether an event is cookieless: `encode` then needs the day's salt.
    pub cookieless: bool,
}

impl ParsedRequest {
    pub fn event_count(&self) -> usize {
        self.events.len()
    }
}

/// System event names; any other name starting with `$` is refused.
pub const SYSTEM_EVENTS: &[&str] = &[
    "$pageview",
    "$identify",
    "$alias",
    "$session_start",
    "$session_end",
    "$autocapture",
    "$error",
    "$pageleave",
    "$screen",
    "$pixel_open",
];

/// Longest event name, id or message_id, in characters.
pub const MAX_NAME_CHARS: usize = 200;

/// The fields each shape of event object may carry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Shape {
    /// Body of `/track`: an event plus the request-level `key`/`api_key`.
    Track,
    /// One element of `/batch`.
    BatchElement,
    Identify,
    Alias,
}

impl Shape {
    fn allows(self, field: &str) -> bool {
        const EVENT: &[&str] = &[
            "event",
            "anonymous_id",
            "user_id",
            "properties",
            "context",
            "timestamp",
            "sent_at",
            "message_id",
            "project_id",
        ];
        const KEYS: &[&str] = &["key", "api_key"];
        const IDENTIFY: &[&str] = &[
            "user_id",
            "anonymous_id",
            "traits",
            "timestamp",
            "sent_at",
            "message_id",
            "context",
            "project_id",
        ];
        const ALIAS: &[&str] = &[
            "previous_id",
            "user_id",
            "timestamp",
            "sent_at",
            "message_id",
            "context",
            "project_id",
        ];
        let list: &[&str] = match self {
            Shape::Track | Shape::BatchElement => EVENT,
            Shape::Identify => IDENTIFY,
            Shape::Alias => ALIAS,
        };
        list.contains(&field) || (self != Shape::BatchElement && KEYS.contains(&field))
    }
}

const ENVELOPE_FIELDS: &[&str] = &["batch", "events", "sent_at", "project_id", "key", "api_key"];

/// Parses and validates a request body. Whole-body problems are a [`RequestError`]; problems
/// of single events become their slot's [`RejectReason`] and the other events go on.
pub fn parse_request(
    body: &[u8],
    kind: RequestKind,
    info: &RequestInfo<'_>,
    limits: &Limits,
) -> Result<ParsedRequest, RequestError> {
    let body = body.strip_prefix(b"\xEF\xBB\xBF").unwrap_or(body);
    // Validating UTF-8 once for the whole body is faster than serde_json doing it per string.
    let text = std::str::from_utf8(body).map_err(|e| RequestError::InvalidJson {
        detail: format!("not UTF-8 (invalid byte at offset {})", e.valid_up_to()),
    })?;

    let received_at = time::from_millis(info.received_at_ms);
    let defaults = RequestDefaults::new(
        received_at,
        info.ip,
        info.user_agent,
        info.accept_language,
        info.geo,
    );
    let mut ids = MessageIds::default();
    let mut events = Vec::new();

    let (project_id, key) = match kind {
        RequestKind::Batch => {
            let body: BatchBody<'_> = parse_body(text)?;
            let key = request_key(&body.fields)?;
            let envelope = Envelope::read(body, limits)?;
            events.reserve(envelope.events.len());
            for element in &envelope.events {
                events.push(match element {
                    Element::Event(ev) => validate_event(
                        ev,
                        Shape::BatchElement,
                        envelope.sent_at,
                        &defaults,
                        limits,
                        &mut ids,
                    )?,
                    Element::NotObject => Err(RejectReason::InvalidEvent),
                });
            }
            (envelope.project_id, key)
        }
        single => {
            let shape = match single {
                RequestKind::Identify => Shape::Identify,
                RequestKind::Alias => Shape::Alias,
                _ => Shape::Track,
            };
            let top: EventObject<'_> = parse_body(text)?;
            let key = request_key(&top.fields)?;
            let project_id = top
                .fields
                .get("project_id")
                .and_then(json::as_str)
                .map(Cow::into_owned);
            events.push(validate_event(
                &top, shape, None, &defaults, limits, &mut ids,
            )?);
            (project_id, key)
        }
    };

    let mut seen = HashSet::new();
    let anonymous_ids = events
        .iter()
        .filter_map(|slot| slot.as_ref().ok()?.anonymous_id.as_deref())
        .filter(|id| seen.insert(*id))
        .map(str::to_string)
        .collect();

    let cookieless = events
        .iter()
        .any(|slot| matches!(slot, Ok(ev) if ev.cookieless.is_some()));
    Ok(ParsedRequest {
        project_id,
        key,
        anonymous_ids,
        events,
        received_at,
        cookieless,
    })
}

/// The body's top-level object, in one pass, into the structure `T` reads.
fn parse_body<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, RequestError> {
    let invalid_json = |e: serde_json::Error| RequestError::InvalidJson {
        // serde_json's messages name a position, never the input itself.
        detail: e.to_string(),
    };
    serde_json::from_str::<T>(text).map_err(|e| {
        if e.classify() != serde_json::error::Category::Data {
            return invalid_json(e);
        }
        // Not an object, but is it JSON at all?
        match serde_json::from_str::<serde::de::IgnoredAny>(text) {
            Err(e) => invalid_json(e),
            Ok(_) => RequestError::invalid_request("body must be a JSON object"),
        }
    })
}

/// `key` (or `api_key`) at the top of the body; must be a string when present.
fn request_key(top: &RawObject<'_>) -> Result<Option<String>, RequestError> {
    for name in ["key", "api_key"] {
        let Some(raw) = present(top, name) else {
            continue;
        };
        match json::as_str(raw) {
            Some(s) => return Ok(Some(s.into_owned())),
            None => {
                return Err(RequestError::invalid_request(format!(
                    "'{name}' must be a string"
                )))
            }
        }
    }
    Ok(None)
}

/// The `/batch` body around the events.
struct Envelope<'a> {
    events: Vec<Element<'a>>,
    sent_at: Option<Micros>,
    project_id: Option<String>,
}

impl<'a> Envelope<'a> {
    fn read(body: BatchBody<'a>, limits: &Limits) -> Result<Self, RequestError> {
        if let Some((field, _)) = body
            .fields
            .0
            .iter()
            .find(|(k, _)| !ENVELOPE_FIELDS.contains(&k.as_ref()))
        {
            return Err(RequestError::invalid_request(format!(
                "unknown field '{}' in batch body (expected 'batch' or 'events', 'sent_at', 'project_id', 'key')",
                clip(field)
            )));
        }
        let given = |l: Option<EventList<'a>>| l.filter(|l| !matches!(l, EventList::Null));
        let (name, list) = match (given(body.batch), given(body.events)) {
            (Some(b), None) => ("batch", b),
            (None, Some(e)) => ("events", e),
            (None, None) => {
                return Err(RequestError::invalid_request(
                    "batch body needs a 'batch' (or 'events') array",
                ))
            }
            (Some(_), Some(_)) => {
                return Err(RequestError::invalid_request(
                    "batch body has both 'batch' and 'events'; send one",
                ))
            }
        };
        let EventList::List(events) = list else {
            return Err(RequestError::invalid_request(format!(
                "'{name}' must be an array"
            )));
        };
        if events.is_empty() {
            return Err(RequestError::invalid_request(format!("'{name}' is empty")));
        }
        if events.len() > limits.max_batch_events {
            return Err(RequestError::TooManyEvents {
                limit: limits.max_batch_events,
                count: events.len(),
            });
        }
        let sent_at = match present(&body.fields, "sent_at") {
            None => None,
            Some(raw) => Some(
                json::to_value(raw)
                    .as_ref()
                    .and_then(time::parse_json_time)
                    .ok_or_else(|| {
                        RequestError::invalid_request(
                            "'sent_at' must be an RFC 3339 date-time or epoch milliseconds",
                        )
                    })?,
            ),
        };
        let project_id = match present(&body.fields, "project_id") {
            None => None,
            Some(raw) => Some(
                json::as_str(raw)
                    .ok_or_else(|| RequestError::invalid_request("'project_id' must be a string"))?
                    .into_owned(),
            ),
        };
        Ok(Envelope {
            events,
            sent_at,
            project_id,
        })
    }
}

/// The value of `name`; an explicit `null` counts as absent.
fn present<'a>(obj: &RawObject<'a>, name: &str) -> Option<&'a RawValue> {
    obj.get(name).filter(|v| json::kind(v) != Kind::Null)
}

/// Levels of nesting above an event's `properties` / `context` values (envelope, list,
/// event, the object itself), so the whole body stays within [`json::MAX_DEPTH`].
const DEPTH_ABOVE_VALUES: usize = 4;

/// Validates one event object and normalises it. Checks run in a fixed order and the first
/// failure is the event's reason. The outer `Err` is a whole-body problem found on the way
/// (nesting too deep), which refuses the request.
fn validate_event(
    ev_obj: &EventObject<'_>,
    shape: Shape,
    envelope_sent_at: Option<Micros>,
    defaults: &RequestDefaults,
    limits: &Limits,
    ids: &mut MessageIds,
) -> Result<Result<Event, RejectReason>, RequestError> {
    let m = &ev_obj.fields;
    let unknown =
        m.0.iter()
            .map(|(k, _)| k.as_ref())
            .chain(ev_obj.properties.as_ref().map(|_| "properties"))
            .chain(ev_obj.traits.as_ref().map(|_| "traits"))
            .chain(ev_obj.context.as_ref().map(|_| "context"))
            .find(|k| !shape.allows(k));
    if let Some(field) = unknown {
        return Ok(Err(RejectReason::UnknownField {
            field: field.to_string(),
        }));
    }
    let checked = (|| -> Result<(Event, Stored<'_, '_>), RejectReason> {
        let event = match shape {
            Shape::Identify => "$identify".to_string(),
            Shape::Alias => "$alias".to_string(),
            Shape::Track | Shape::BatchElement => event_name(present(m, "event"))?,
        };
        let mut ev = Event {
            event,
            ..Event::default()
        };
        match shape {
            Shape::Alias => {
                let previous = required_id(m, "previous_id")?;
                let user = required_id(m, "user_id")?;
                if previous == user {
                    return Err(RejectReason::InvalidField {
                        field: "previous_id",
                        detail: "must differ from user_id",
                    });
                }
                ev.link = Some((previous.clone(), user.clone()));
                ev.anonymous_id = Some(previous);
                ev.user_id = Some(user);
            }
            Shape::Identify => {
                ev.user_id = Some(required_id(m, "user_id")?);
                ev.anonymous_id = optional_id(m, "anonymous_id")?;
            }
            Shape::Track | Shape::BatchElement => {
                ev.anonymous_id = optional_id(m, "anonymous_id")?;
                ev.user_id = optional_id(m, "user_id")?;
                if ev.anonymous_id.is_none() && ev.user_id.is_none() {
                    ev.cookieless = cookieless_visitor(&ev_obj.context, defaults);
                    if ev.cookieless.is_none() {
                        return Err(RejectReason::MissingField {
                            field: "anonymous_id",
                        });
                    }
                }
            }
        }
        ev.message_id = optional_id(m, "message_id")?.unwrap_or_default();
        ev.project_id = optional_id(m, "project_id")?;

        let (props_field, props) = match shape {
            Shape::Identify => ("traits", &ev_obj.traits),
            _ => ("properties", &ev_obj.properties),
        };
        let stored = Stored {
            props_field,
            properties: object_field(props, props_field)?,
            context: object_field(&ev_obj.context, "context")?,
        };
        let timestamp = time_field(m, "timestamp")?;
        let sent_at = time_field(m, "sent_at")?.or(envelope_sent_at);
        ev.ts = time::event_time(timestamp, sent_at, defaults.received_at);
        Ok((ev, stored))
    })();
    let (mut ev, stored) = match checked {
        Ok(x) => x,
        Err(reason) => return Ok(Err(reason)),
    };

    // Stored text: compact JSON, checked for what jsonb refuses. The raw User-Agent and IP
    // (in either spelling) are read for their classes, then left out of the stored context.
    let max_depth = json::MAX_DEPTH - DEPTH_ABOVE_VALUES;
    let empty = RawObject::default();
    let props_obj = stored.properties.unwrap_or(&empty);
    let mut properties = String::with_capacity(128);
    if let Err(p) = json::write_object(props_obj, &[], &mut properties, max_depth) {
        return text_problem(p, stored.props_field);
    }
    ev.properties = properties;
    if let Some(ctx) = stored.context {
        let mut context = String::with_capacity(256);
        if let Err(p) =
            json::write_object(ctx, &enrich::UNSTORED_CONTEXT_KEYS, &mut context, max_depth)
        {
            return text_problem(p, "context");
        }
        ev.context = Some(context);
    }
    let size = ev.properties.len() + ev.context.as_ref().map_or(0, String::len);
    if size > limits.max_properties_bytes {
        let limit_bytes = limits.max_properties_bytes;
        return Ok(Err(RejectReason::PropertiesTooLarge {
            limit_bytes,
            size_bytes: size,
        }));
    }

    let hints = Hints::read(props_obj, stored.context);
    enrich::normalise(&mut ev, &hints, defaults);
    put_identity(&mut ev, shape, props_obj);
    if ev.event == "$error" {
        ev.error = Some(fingerprint::read(props_obj));
    }
    if ev.message_id.is_empty() {
        ev.message_id = ids.next((defaults.received_at / 1_000).max(0) as u64);
    }
    Ok(Ok(ev))
}

/// A browser that keeps no id says so with `context.cookieless: true`; its person is then derived
/// from its IP and User-Agent (the context's, else the request's). Without an IP there is nothing
/// to derive it from.
fn cookieless_visitor(
    context: &Option<MaybeObject<'_>>,
    defaults: &RequestDefaults,
) -> Option<cookieless::Visitor> {
    let Some(MaybeObject::Object(ctx)) = context else {
        return None;
    };
    if ctx.get("cookieless").map(RawValue::get) != Some("true") {
        return None;
    }
    let hints = Hints::read(&RawObject::default(), Some(ctx));
    let ip = hints
        .ip
        .map(Cow::into_owned)
        .or_else(|| defaults.raw_ip.clone())?;
    let user_agent = hints
        .user_agent
        .map(Cow::into_owned)
        .or_else(|| defaults.raw_user_agent.clone())
        .unwrap_or_default();
    Some(cookieless::Visitor { ip, user_agent })
}

/// The object-valued fields of an event that are stored as JSON.
struct Stored<'o, 'a> {
    props_field: &'static str,
    properties: Option<&'o RawObject<'a>>,
    context: Option<&'o RawObject<'a>>,
}

fn text_problem(
    p: TextProblem,
    field: &'static str,
) -> Result<Result<Event, RejectReason>, RequestError> {
    let detail = match p {
        TextProblem::Nul => "must not contain NUL (\\u0000) characters",
        TextProblem::LoneSurrogate => "must not contain unpaired UTF-16 surrogate escapes",
        TextProblem::TooDeep => {
            return Err(RequestError::InvalidJson {
                detail: format!("nesting deeper than {}", json::MAX_DEPTH),
            })
        }
    };
    Ok(Err(RejectReason::InvalidField { field, detail }))
}

/// Fresh message_ids for events that came without one: UUID v7, the request's receive time in
/// milliseconds then 74 random bits, so a project's server-made ids sort by arrival and land at
/// the right edge of the primary key's index instead of at random pages. Randomness is drawn
/// from the OS in blocks, not with one system call per event.
#[derive(Default)]
struct MessageIds {
    pool: Vec<u8>,
}

impl MessageIds {
    const BLOCK: usize = 16 * 32;

    fn next(&mut self, millis: u64) -> String {
        if self.pool.len() < 10 {
            self.pool.resize(Self::BLOCK, 0);
            getrandom::fill(&mut self.pool).expect("OS random number generator");
        }
        let mut bytes = [0u8; 10];
        bytes.copy_from_slice(&self.pool[self.pool.len() - 10..]);
        self.pool.truncate(self.pool.len() - 10);
        let mut buf = uuid::Uuid::encode_buffer();
        uuid::Builder::from_unix_timestamp_millis(millis, &bytes)
            .into_uuid()
            .hyphenated()
            .encode_lower(&mut buf)
            .to_string()
    }
}

/// Identity links and traits carried by `$identify` / `$alias`.
fn put_identity(ev: &mut Event, shape: Shape, properties: &RawObject<'_>) {
    match (shape, ev.event.as_str()) {
        (Shape::Alias, _) => {} // link set during validation
        (Shape::Identify, _) => {
            ev.link = link(ev.anonymous_id.as_deref(), ev.user_id.as_deref());
            if !properties.is_empty() {
                ev.traits = Some(ev.properties.clone());
            }
        }
        (_, "$identify") => {
            ev.link = link(ev.anonymous_id.as_deref(), ev.user_id.as_deref());
            ev.traits = properties
                .get("$set")
                .filter(|raw| json::kind(raw) == Kind::Object)
                .and_then(|raw| json::compact(raw.get()).ok())
                .filter(|t| t != "{}");
        }
        (_, "$alias") => {
            let from_props = properties
                .str("previous_id")
                .filter(|s| id_problem(s).is_none());
            let previous = ev.anonymous_id.as_deref().or(from_props.as_deref());
            ev.link = link(previous, ev.user_id.as_deref());
        }
        _ => {}
    }
}

fn link(anonymous_id: Option<&str>, user_id: Option<&str>) -> Option<(String, String)> {
    match (anonymous_id, user_id) {
        (Some(a), Some(u)) if a != u => Some((a.to_string(), u.to_string())),
        _ => None,
    }
}

fn event_name(raw: Option<&RawValue>) -> Result<String, RejectReason> {
    let Some(raw) = raw else {
        return Err(RejectReason::MissingField { field: "event" });
    };
    let Some(name) = json::as_str(raw) else {
        return Err(RejectReason::InvalidField {
            field: "event",
            detail: "must be a string",
        });
    };
    if id_problem(&name).is_some() {
        return Err(RejectReason::InvalidName);
    }
    if name.starts_with('$') && !SYSTEM_EVENTS.contains(&name.as_ref()) {
        return Err(RejectReason::SystemReserved {
            name: name.into_owned(),
        });
    }
    Ok(name.into_owned())
}

/// Why a name or id is unusable, if it is.
fn id_problem(s: &str) -> Option<&'static str> {
    if s.is_empty() {
        Some("must not be empty")
    } else if s.len() > MAX_NAME_CHARS && s.chars().count() > MAX_NAME_CHARS {
        Some("must be at most 200 characters")
    } else if s.chars().any(char::is_control) {
        Some("must not contain control characters")
    } else {
        None
    }
}

fn optional_id(m: &RawObject<'_>, field: &'static str) -> Result<Option<String>, RejectReason> {
    let Some(raw) = present(m, field) else {
        return Ok(None);
    };
    let Some(s) = json::as_str(raw) else {
        return Err(RejectReason::InvalidField {
            field,
            detail: "must be a string",
        });
    };
    match id_problem(&s) {
        None => Ok(Some(s.into_owned())),
        Some(detail) => Err(RejectReason::InvalidField { field, detail }),
    }
}

fn required_id(m: &RawObject<'_>, field: &'static str) -> Result<String, RejectReason> {
    optional_id(m, field)?.ok_or(RejectReason::MissingField { field })
}

/// An object-valued field read one level deep; `null` is absent.
fn object_field<'o, 'a>(
    v: &'o Option<MaybeObject<'a>>,
    field: &'static str,
) -> Result<Option<&'o RawObject<'a>>, RejectReason> {
    match v {
        None | Some(MaybeObject::Null) => Ok(None),
        Some(MaybeObject::Object(o)) => Ok(Some(o)),
        Some(MaybeObject::NotObject) => Err(RejectReason::InvalidField {
            field,
            detail: "must be a JSON object",
        }),
    }
}

fn time_field(m: &RawObject<'_>, field: &'static str) -> Result<Option<Micros>, RejectReason> {
    let Some(raw) = present(m, field) else {
        return Ok(None);
    };
    json::to_value(raw)
        .as_ref()
        .and_then(time::parse_json_time)
        .map(Some)
        .ok_or(RejectReason::InvalidTimestamp { field })
}

#[cfg(test)]
mod tests;
