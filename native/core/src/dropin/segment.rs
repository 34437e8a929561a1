//! Segment tracking API bodies (`/v1/batch`, `/v1/b` and one message to `/v1/track`, `/v1/t`,
//! …): camelCase messages of six types. `page` is a `$pageview`, `screen` a `$screen`,
//! `identify` an `$identify` whose traits are its person's, `alias` links `previousId` to
//! `userId`, and `group` is PostHog's `$groupidentify`.

use std::borrow::Cow;

use serde_json::value::RawValue;

use super::posthog::{parse, time_ms};
use super::write::{self, Obj};
use super::Translated;
use crate::json::{self, BatchBody, Element, EventList, EventObject, Kind, MaybeObject, RawObject};
use crate::reject::RequestError;

/// A Segment call, named by its path or by a batch message's `type`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentCall {
    Track,
    Identify,
    Alias,
    Page,
    Screen,
    Group,
}

impl SegmentCall {
    /// The call of a path segment (`track` or analytics.js's `t`) or a message `type`.
    pub fn parse(name: &str) -> Option<Self> {
        Some(match name {
            "track" | "t" => SegmentCall::Track,
            "identify" | "i" => SegmentCall::Identify,
            "alias" | "a" => SegmentCall::Alias,
            "page" | "p" => SegmentCall::Page,
            "screen" | "s" => SegmentCall::Screen,
            "group" | "g" => SegmentCall::Group,
            _ => return None,
        })
    }
}

/// Translates a Segment body (already decompressed) into the native `/batch` body: a batch
/// (`call` None) or the one message of a call's own path.
pub fn segment(body: &[u8], call: Option<SegmentCall>) -> Result<Translated, RequestError> {
    let text = super::utf8(body)?;
    if text.trim_start().as_bytes().first() != Some(&b'{') {
        parse::<serde::de::IgnoredAny>(text)?;
        return Err(RequestError::invalid_request("body must be a JSON object"));
    }
    let (messages, envelope) = match call {
        Some(_) => (vec![Element::Event(parse::<EventObject<'_>>(text)?)], None),
        None => {
            let top: BatchBody<'_> = parse(text)?;
            match top.batch {
                Some(EventList::List(list)) => (list, Some(top.fields)),
                _ => {
                    return Err(RequestError::invalid_request(
                        "batch body needs a 'batch' array",
                    ))
                }
            }
        }
    };
    let envelope = envelope.unwrap_or_default();
    let key = envelope
        .str("writeKey")
        .or_else(|| messages.iter().find_map(write_key))
        .map(Cow::into_owned);

    let mut out = Vec::with_capacity(body.len() + body.len() / 4 + 64);
    out.extend_from_slice(b"{\"batch\":[");
    for (i, element) in messages.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        match element {
            Element::Event(m) => message(&mut out, m, call, key.as_deref()),
            Element::NotObject => out.extend_from_slice(b"null"),
        }
    }
    out.push(b']');
    if let Some(sent_at) = present(&envelope, "sentAt").filter(|raw| time_ms(raw).is_some()) {
        out.extend_from_slice(b",\"sent_at\":");
        out.extend_from_slice(sent_at.get().as_bytes());
    }
    out.push(b'}');
    Ok(Translated { body: out, key })
}

fn present<'a>(obj: &RawObject<'a>, name: &str) -> Option<&'a RawValue> {
    obj.get(name).filter(|v| json::kind(v) != Kind::Null)
}

fn write_key<'a>(element: &Element<'a>) -> Option<Cow<'a, str>> {
    match element {
        Element::Event(m) => m.fields.str("writeKey"),
        Element::NotObject => None,
    }
}

/// `properties` or `traits` as sent: an object, absent, or something the validator refuses.
fn object<'o, 'a>(
    e: &mut Obj<'_>,
    name: &str,
    value: &'o Option<MaybeObject<'a>>,
) -> Result<Option<&'o RawObject<'a>>, ()> {
    match value {
        Some(MaybeObject::Object(o)) => Ok(Some(o)),
        Some(MaybeObject::NotObject) => {
            e.raw(name, "[]"); // not an object: refused by the validator with this field's name
            Err(())
        }
        _ => Ok(None),
    }
}

fn message(out: &mut Vec<u8>, m: &EventObject<'_>, call: Option<SegmentCall>, key: Option<&str>) {
    let f = &m.fields;
    let call = call.or_else(|| f.str("type").as_deref().and_then(SegmentCall::parse));
    let Some(call) = call else {
        out.extend_from_slice(b"null"); // not a message type: refused as an invalid event
        return;
    };
    if let (Some(key), Some(own)) = (key, f.str("writeKey")) {
        if own != key {
            out.extend_from_slice(b"null"); // another source's message
            return;
        }
    }
    let mut e = Obj::open(out);
    match call {
        SegmentCall::Track => match present(f, "event") {
            Some(name) => e.raw("event", name.get()),
            None => &mut e,
        },
        SegmentCall::Identify => e.str("event", "$identify"),
        SegmentCall::Alias => e.str("event", "$alias"),
        SegmentCall::Page => e.str("event", "$pageview"),
        SegmentCall::Screen => e.str("event", "$screen"),
        SegmentCall::Group => e.str("event", "$groupidentify"),
    };
    let anonymous = match call {
        SegmentCall::Alias => present(f, "previousId"),
        _ => present(f, "anonymousId"),
    };
    if let Some(id) = anonymous {
        write::id(&mut e, "anonymous_id", id);
    }
    if let Some(id) = present(f, "userId") {
        write::id(&mut e, "user_id", id);
    }
    if let Some(id) = present(f, "messageId") {
        e.raw("message_id", id.get());
    }
    if let Some(ts) = present(f, "timestamp").or_else(|| present(f, "originalTimestamp")) {
        e.raw("timestamp", ts.get());
    }
    if let Some(sent_at) = present(f, "sentAt") {
        e.raw("sent_at", sent_at.get());
    }

    let Ok(properties) = object(&mut e, "properties", &m.properties) else {
        return e.close();
    };
    let Ok(traits) = object(&mut e, "traits", &m.traits) else {
        return e.close();
    };
    e.object("properties", |p| match call {
        SegmentCall::Identify => {
            if let Some(traits) = traits {
                p.object("$set", |t| {
                    t.entries(traits, &[]);
                });
            }
        }
        SegmentCall::Group => {
            if let Some(group) = present(f, "groupId") {
                p.raw("$group_key", group.get());
            }
            if let Some(traits) = traits {
                p.object("$group_set", |t| {
                    t.entries(traits, &[]);
                });
            }
        }
        _ => {
            if let Some(props) = properties {
                p.entries(props, &[]);
            }
            if matches!(call, SegmentCall::Page | SegmentCall::Screen) {
                for name in ["name", "category"] {
                    let given = properties.is_some_and(|props| props.get(name).is_some());
                    if let (false, Some(v)) = (given, present(f, name)) {
                        p.raw(name, v.get());
                    }
                }
            }
        }
    });

    match &m.context {
        Some(MaybeObject::Object(ctx)) => {
            // A server library's page call names the page in its properties only.
            let page = (call == SegmentCall::Page && ctx.get("page").is_none())
                .then_some(properties)
                .flatten();
            e.object("context", |c| {
                c.entries(ctx, &[]);
                if let Some(props) = page {
                    page_from(c, props);
                }
            });
        }
        Some(MaybeObject::NotObject) => {
            e.raw("context", "[]");
        }
        _ => {
            if let (SegmentCall::Page, Some(props)) = (call, properties) {
                e.object("context", |c| page_from(c, props));
            }
        }
    }
    e.close();
}

/// `context.page` from a page call's properties (`url`, `path`, `referrer`, `search`, `title`).
fn page_from(c: &mut Obj<'_>, props: &RawObject<'_>) {
    let fields = ["url", "path", "referrer", "search", "title"];
    if fields.iter().any(|k| present(props, k).is_some()) {
        c.object("page", |page| {
            for k in fields {
                if let Some(v) = present(props, k) {
                    page.raw(k, v.get());
                }
            }
        });
    }
}
