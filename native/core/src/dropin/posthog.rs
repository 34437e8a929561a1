//! PostHog capture bodies (`/batch/`, `/e/`, `/i/v0/e/`, `/capture/`, `/track/`, `/engage/`):
//! `{"api_key", "batch": [...], "sent_at"}`, a bare list of events, or one event.
//!
//! Identity follows PostHog's own rules: a `distinct_id` is an anonymous id until it is
//! identified — posthog-js marks identified events with `$is_identified`, `$identify` names
//! the user (its `$anon_distinct_id` is linked to it), `$create_alias` links `distinct_id` to
//! `alias` (or, from an identified user, `alias` to that user), and `$set` / `$set_once` give the person traits (so it is a user) unless the event
//! says it is not identified. Person properties (`$set`, `$set_once`, top level or in
//! `properties`) become the traits of an `$identify`.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::write::{self, Obj};
use super::Translated;
use crate::json::{self, BatchBody, Element, EventList, EventObject, Kind, MaybeObject, RawObject};
use crate::reject::RequestError;
use crate::time;

/// Properties that are not stored as sent: the key, the id (an event field of its own), the raw
/// User-Agent and address (read for their classes, never stored), and person properties
/// (written back merged).
const NOT_COPIED: &[&str] = &[
    "token",
    "distinct_id",
    "$raw_user_agent",
    "$ip",
    "$set",
    "$set_once",
];

/// What every event of one request shares.
struct Request<'k> {
    key: Option<&'k str>,
    sent_at_ms: Option<i64>,
    received_at_ms: i64,
}

/// Translates a PostHog capture body (already decompressed) into the native `/batch` body.
/// `query_sent_at_ms` is the `sent_at` posthog-js may put in the URL instead of the body.
pub fn posthog(
    body: &[u8],
    received_at_ms: i64,
    query_sent_at_ms: Option<i64>,
) -> Result<Translated, RequestError> {
    let text = super::utf8(body)?;
    let (events, envelope): (Vec<Element<'_>>, Option<RawObject<'_>>) =
        match text.trim_start().as_bytes().first() {
            Some(b'[') => match parse::<EventList<'_>>(text)? {
                EventList::List(list) => (list, None),
                _ => unreachable!("a JSON array parses as a list"),
            },
            Some(b'{') => {
                let top: BatchBody<'_> = parse(text)?;
                match top.batch {
                    Some(EventList::List(list)) => (list, Some(top.fields)),
                    Some(_) => {
                        return Err(RequestError::invalid_request("'batch' must be an array"))
                    }
                    // One event on its own: read again as an event.
                    None => (vec![Element::Event(parse::<EventObject<'_>>(text)?)], None),
                }
            }
            _ => {
                parse::<serde::de::IgnoredAny>(text)?;
                return Err(RequestError::invalid_request(
                    "body must be a JSON object or array of events",
                ));
            }
        };

    let envelope = envelope.unwrap_or_default();
    let key = ["api_key", "token"]
        .iter()
        .find_map(|k| envelope.str(k))
        .or_else(|| events.iter().find_map(event_token))
        .map(Cow::into_owned);
    let sent_at_raw = present(&envelope, "sent_at").filter(|raw| time_ms(raw).is_some());
    let req = Request {
        key: key.as_deref(),
        sent_at_ms: sent_at_raw.and_then(time_ms).or(query_sent_at_ms),
        received_at_ms,
    };

    let mut out = Vec::with_capacity(body.len() + body.len() / 4 + 64);
    out.extend_from_slice(b"{\"batch\":[");
    for (i, element) in events.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match element {
            Element::Event(ev) => event(&mut out, ev, &req),
            Element::NotObject => out.extend_from_slice(b"null"),
        }
    }
    out.push(b']');
    if let Some(raw) = sent_at_raw {
        out.extend_from_slice(b",\"sent_at\":");
        out.extend_from_slice(raw.get().as_bytes());
    } else if let Some(ms) = query_sent_at_ms {
        out.extend_from_slice(format!(",\"sent_at\":{ms}").as_bytes());
    }
    out.push(b'}');
    Ok(Translated { body: out, key })
}

pub(super) fn parse<'a, T: serde::Deserialize<'a>>(text: &'a str) -> Result<T, RequestError> {
    serde_json::from_str(text).map_err(|e| RequestError::InvalidJson {
        detail: e.to_string(),
    })
}

fn present<'a>(obj: &RawObject<'a>, name: &str) -> Option<&'a RawValue> {
    obj.get(name).filter(|v| json::kind(v) != Kind::Null)
}

fn properties<'o, 'a>(ev: &'o EventObject<'a>) -> Option<&'o RawObject<'a>> {
    match &ev.properties {
        Some(MaybeObject::Object(o)) => Some(o),
        _ => None,
    }
}

/// The project key an event carries (posthog-js: `properties.token`).
fn event_token<'a>(element: &Element<'a>) -> Option<Cow<'a, str>> {
    match element {
        Element::Event(ev) => token_of(ev),
        Element::NotObject => None,
    }
}

fn token_of<'a>(ev: &EventObject<'a>) -> Option<Cow<'a, str>> {
    ev.fields
        .str("api_key")
        .or_else(|| properties(ev).and_then(|p| p.str("token")))
        .or_else(|| ev.fields.str("token"))
        .or_else(|| ev.fields.str("$token"))
}

/// Epoch milliseconds of a `sent_at` / `timestamp` value.
pub(super) fn time_ms(raw: &RawValue) -> Option<i64> {
    json::to_value(raw)
        .as_ref()
        .and_then(time::parse_json_time)
        .map(|us| us.div_euclid(1000))
}

fn number(raw: &RawValue) -> Option<f64> {
    json::to_value(raw)?.as_f64().filter(|n| n.is_finite())
}

/// A person-properties object of the event (`$set` or `$set_once`, top level then properties).
fn person_objects<'a>(ev: &EventObject<'a>, name: &str) -> Vec<RawObject<'a>> {
    let props = properties(ev);
    [props.and_then(|p| p.get(name)), ev.fields.get(name)]
        .into_iter()
        .flatten()
        .filter_map(RawObject::parse)
        .collect()
}

fn event(out: &mut Vec<u8>, ev: &EventObject<'_>, req: &Request<'_>) {
    let f = &ev.fields;
    let props = properties(ev);
    let prop = |name: &str| props.and_then(|p| present(p, name));

    // An event for another project than the request's key is refused alone.
    if let (Some(key), Some(token)) = (req.key, token_of(ev)) {
        if token != key {
            out.extend_from_slice(b"null");
            return;
        }
    }

    let sets = person_objects(ev, "$set");
    let set_onces = person_objects(ev, "$set_once");
    let name_raw = present(f, "event");
    let name = name_raw.and_then(json::as_str);
    let name = match name.as_deref() {
        // `/engage/`: a person update without an event name.
        None if name_raw.is_none() && !(sets.is_empty() && set_onces.is_empty()) => {
            Some(Cow::Borrowed("$set"))
        }
        _ => name,
    };
    let distinct = present(f, "distinct_id")
        .or_else(|| prop("distinct_id"))
        .or_else(|| present(f, "$distinct_id"));
    let identified = prop("$is_identified").map(|raw| raw.get() == "true");

    let mut e = Obj::open(out);
    let mut person_update = false;
    match name.as_deref() {
        Some("$identify") => {
            e.str("event", "$identify");
            if let Some(user) = distinct {
                write::id(&mut e, "user_id", user);
            }
            if let Some(anon) =
                prop("$anon_distinct_id").filter(|a| Some(a.get()) != distinct.map(RawValue::get))
            {
                write::id(&mut e, "anonymous_id", anon);
            }
            person_update = true;
        }
        Some("$create_alias") => {
            // posthog-python's alias(previous_id, distinct_id) and posthog-js's alias() of an
            // anonymous visitor name the user in `alias`; posthog-js's alias() of an identified
            // user (`$is_identified`) gives that user one more id, the alias (a user is never
            // linked to another user, so the other way round the link would be dropped).
            e.str("event", "$alias");
            let (anon, user) = (prop("distinct_id").or(distinct), prop("alias"));
            let (anon, user) = if identified == Some(true) {
                (user, anon)
            } else {
                (anon, user)
            };
            if let Some(anon) = anon {
                write::id(&mut e, "anonymous_id", anon);
            }
            if let Some(user) = user {
                write::id(&mut e, "user_id", user);
            }
        }
        Some("$set" | "$set_once") => {
            e.str("event", "$identify");
            if let Some(id) = distinct {
                let side = if identified == Some(false) {
                    "anonymous_id"
                } else {
                    "user_id"
                };
                write::id(&mut e, side, id);
            }
            person_update = true;
        }
        other => {
            match other {
                Some("$exception") => e.str("event", "$error"),
                _ => match name_raw {
                    Some(raw) => e.raw("event", raw.get()),
                    None => &mut e,
                },
            };
            if let Some(id) = distinct {
                if identified == Some(true) {
                    write::id(&mut e, "user_id", id);
                    if let Some(device) = prop("$device_id")
                        .filter(|d| json::kind(d) == Kind::String && d.get() != id.get())
                    {
                        e.raw("anonymous_id", device.get());
                    }
                } else {
                    write::id(&mut e, "anonymous_id", id);
                }
            }
        }
    }

    if let Some(uuid) = present(f, "uuid") {
        e.raw("message_id", uuid.get());
    }
    let event_sent_at = present(f, "sent_at");
    if let Some(ts) = present(f, "timestamp") {
        e.raw("timestamp", ts.get());
    } else if let Some(offset) = present(f, "offset").and_then(number) {
        // Batched posthog-js events carry how long before the send they happened.
        let base = event_sent_at
            .and_then(time_ms)
            .or(req.sent_at_ms)
            .unwrap_or(req.received_at_ms);
        e.int(
            "timestamp",
            base.saturating_sub(offset.round() as i64).max(0),
        );
    }
    if let Some(sent_at) = event_sent_at {
        e.raw("sent_at", sent_at.get());
    }

    match &ev.properties {
        Some(MaybeObject::NotObject) => {
            e.raw("properties", "[]"); // refused by the validator as not an object
        }
        _ => {
            e.object("properties", |p| {
                if let Some(props) = props {
                    p.entries(props, NOT_COPIED);
                }
                if person_update {
                    // Traits: $set_once first, so $set wins within the event.
                    if !(sets.is_empty() && set_onces.is_empty()) {
                        p.object("$set", |t| {
                            for o in set_onces.iter().chain(&sets) {
                                t.entries(o, &[]);
                            }
                        });
                    }
                } else {
                    for (name, objects) in [("$set", &sets), ("$set_once", &set_onces)] {
                        if !objects.is_empty() {
                            p.object(name, |t| {
                                for o in objects.iter() {
                                    t.entries(o, &[]);
                                }
                            });
                        }
                    }
                }
            });
        }
    }

    let context = match &ev.context {
        Some(MaybeObject::Object(o)) => Some(o),
        Some(MaybeObject::NotObject) => {
            e.raw("context", "[]");
            e.close();
            return;
        }
        _ => None,
    };
    let ua = prop("$raw_user_agent");
    let ip = prop("$ip");
    let timezone = prop("$timezone");
    let locale = prop("$browser_language");
    let lib = prop("$lib");
    if context.is_some()
        || ua.is_some()
        || ip.is_some()
        || timezone.is_some()
        || locale.is_some()
        || lib.is_some()
    {
        e.object("context", |c| {
            if let Some(ctx) = context {
                c.entries(ctx, &[]);
            }
            if let Some(ua) = ua {
                c.raw("userAgent", ua.get());
            }
            if let Some(ip) = ip {
                c.raw("ip", ip.get());
            }
            if let Some(tz) = timezone {
                c.raw("timezone", tz.get());
            }
            if let Some(locale) = locale {
                c.raw("locale", locale.get());
            }
            if let Some(lib) = lib {
                c.object("library", |l| {
                    l.raw("name", lib.get());
                    if let Some(v) = prop("$lib_version") {
                        l.raw("version", v.get());
                    }
                });
            }
        });
    }
    e.close();
}
