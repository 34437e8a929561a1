//! The last steps of ingest: per-project checks (project mismatch, opt-out) and encoding the
//! accepted events as COPY text rows (the columns of `columns::EVENT_COLUMNS`, in order), plus
//! identity links and traits.

use std::borrow::Cow;
use std::collections::HashSet;

use crate::cookieless;
use crate::copy_text::RowWriter;
use crate::enrich::Event;
use crate::reject::RejectReason;
use crate::time::{write_pg_timestamp, Micros};
use crate::url;
use crate::validate::ParsedRequest;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct EncodedBatch {
    /// COPY text rows, one line per accepted event.
    pub copy_rows: Vec<u8>,
    pub accepted: usize,
    /// (event index, reason), sorted by index.
    pub rejected: Vec<(usize, RejectReason)>,
    /// (anonymous_id, user_id) from accepted `$identify` / `$alias` events.
    pub links: Vec<(String, String)>,
    /// (user_id, traits JSON) from accepted `$identify` events with traits.
    pub traits: Vec<(String, String)>,
    /// The user_ids of accepted events, sorted, each once: these ids are users, never linked
    /// to another user (see `store_links` in `python/reactor_analytics/store/queries.py`).
    pub users: Vec<String>,
    /// The error groups of accepted `$error` events, one per fingerprint, sorted by it.
    pub errors: Vec<ErrorOccurrences>,
    /// Page hostnames the project did not list, accepted because it registers sources as they
    /// report (sorted, each once).
    pub new_sources: Vec<String>,
}

/// The accepted `$error` events of one fingerprint in one request.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ErrorOccurrences {
    pub fingerprint: String,
    /// Type and message of the last of them, in request order.
    pub error_type: String,
    pub message: String,
    pub count: usize,
    pub first_ts: Micros,
    pub last_ts: Micros,
}

/// What a project decides about the events it takes, besides opt-outs.
#[derive(Debug, Clone, Copy, Default)]
pub struct ProjectRules<'a> {
    /// The page hostnames the project accepts (lowercase); empty: any.
    pub sources: &'a [&'a str],
    /// Accept a hostname that is not listed and report it in `new_sources`.
    pub auto_register_sources: bool,
    /// The salt of the day for cookieless persons; without it a cookieless event is refused.
    pub cookieless_salt: Option<&'a [u8]>,
}

/// Opted-out anonymous ids; a linear scan for the usual handful, a hash set beyond that.
enum OptedOut<'a> {
    Few(&'a [&'a str]),
    Many(HashSet<&'a str>),
}

impl<'a> OptedOut<'a> {
    fn new(ids: &'a [&'a str]) -> Self {
        if ids.len() <= 8 {
            OptedOut::Few(ids)
        } else {
            OptedOut::Many(ids.iter().copied().collect())
        }
    }

    fn contains(&self, id: &str) -> bool {
        match self {
            OptedOut::Few(ids) => ids.contains(&id),
            OptedOut::Many(set) => set.contains(id),
        }
    }
}

/// Encodes `req` for the project it was authorised for (`project_id`, also known by
/// `project_slug`), dropping events of opted-out anonymous ids.
pub fn encode(
    req: &ParsedRequest,
    project_id: &str,
    project_slug: &str,
    opted_out: &[&str],
) -> EncodedBatch {
    encode_for(
        req,
        project_id,
        project_slug,
        opted_out,
        &ProjectRules::default(),
    )
}

/// [`encode`] under the project's rules: its sources, and the salt of cookieless persons.
pub fn encode_for(
    req: &ParsedRequest,
    project_id: &str,
    project_slug: &str,
    opted_out: &[&str],
    rules: &ProjectRules<'_>,
) -> EncodedBatch {
    let opted_out = OptedOut::new(opted_out);
    let mut received_at = Vec::with_capacity(32);
    write_pg_timestamp(&mut received_at, req.received_at);

    let mut out = EncodedBatch {
        copy_rows: Vec::with_capacity(req.events.len() * 768),
        ..Default::default()
    };
    for (index, slot) in req.events.iter().enumerate() {
        let checked = slot
            .as_ref()
            .map_err(Clone::clone)
            .and_then(|ev| check_project(ev, project_id, project_slug))
            .and_then(|ev| check_source(ev, rules, &mut out.new_sources))
            .and_then(|ev| with_cookieless_id(ev, project_id, rules))
            .and_then(|ev| check_opt_out(ev, &opted_out));
        match checked {
            Ok(ev) => {
                let ev = ev.as_ref();
                write_row(&mut out.copy_rows, ev, project_id, &received_at);
                out.accepted += 1;
                if let Some(error) = &ev.error {
                    count_error(&mut out.errors, error, ev.ts);
                }
                if let Some(link) = &ev.link {
                    out.links.push(link.clone());
                }
                if let (Some(traits), Some(user_id)) = (&ev.traits, &ev.user_id) {
                    out.traits.push((user_id.clone(), traits.clone()));
                }
                if let Some(user_id) = &ev.user_id {
                    // A batch usually comes from one person: skip the repeat of the last one.
                    if out.users.last() != Some(user_id) {
                        out.users.push(user_id.clone());
                    }
                }
            }
            Err(reason) => out.rejected.push((index, reason)),
        }
    }
    out.users.sort_unstable();
    out.users.dedup();
    out.errors
        .sort_unstable_by(|a, b| a.fingerprint.cmp(&b.fingerprint));
    out.new_sources.sort_unstable();
    out.new_sources.dedup();
    out
}

fn count_error(
    groups: &mut Vec<ErrorOccurrences>,
    error: &crate::fingerprint::ErrorInfo,
    ts: Micros,
) {
    match groups
        .iter_mut()
        .find(|g| g.fingerprint == error.fingerprint)
    {
        Some(g) => {
            g.count += 1;
            g.first_ts = g.first_ts.min(ts);
            g.last_ts = g.last_ts.max(ts);
            g.error_type.clone_from(&error.error_type);
            g.message.clone_from(&error.message);
        }
        None => groups.push(ErrorOccurrences {
            fingerprint: error.fingerprint.clone(),
            error_type: error.error_type.clone(),
            message: error.message.clone(),
            count: 1,
            first_ts: ts,
            last_ts: ts,
        }),
    }
}

/// The hostname of an event's page (`context.page.url`, else `$current_url`): lowercase, without
/// a port or a trailing dot. `None` for an event without a page URL (a server's event).
pub fn page_hostname(ev: &Event) -> Option<String> {
    let host = url::split(ev.url.as_deref()?).host?;
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    (!host.is_empty()).then_some(host)
}

/// A project that lists its sources takes an event with a page only from one of them; one that
/// registers sources as they report takes any and notes the new hostname.
fn check_source<'e>(
    ev: &'e Event,
    rules: &ProjectRules<'_>,
    new_sources: &mut Vec<String>,
) -> Result<&'e Event, RejectReason> {
    if rules.sources.is_empty() && !rules.auto_register_sources {
        return Ok(ev);
    }
    let Some(host) = page_hostname(ev) else {
        return Ok(ev);
    };
    if rules.sources.contains(&host.as_str()) {
        Ok(ev)
    } else if rules.auto_register_sources {
        if !new_sources.contains(&host) {
            new_sources.push(host);
        }
        Ok(ev)
    } else {
        Err(RejectReason::InvalidSource { hostname: host })
    }
}

/// A cookieless event gets its anonymous_id (and distinct_id) here, from the day's salt.
fn with_cookieless_id<'e>(
    ev: &'e Event,
    project_id: &str,
    rules: &ProjectRules<'_>,
) -> Result<Cow<'e, Event>, RejectReason> {
    let Some(visitor) = &ev.cookieless else {
        return Ok(Cow::Borrowed(ev));
    };
    let Some(salt) = rules.cookieless_salt else {
        return Err(RejectReason::MissingField {
            field: "anonymous_id",
        });
    };
    let mut owned = ev.clone();
    owned.anonymous_id = Some(cookieless::visitor_id(salt, project_id, visitor));
    owned.cookieless = None;
    Ok(Cow::Owned(owned))
}

fn check_project<'e>(
    ev: &'e Event,
    project_id: &str,
    project_slug: &str,
) -> Result<&'e Event, RejectReason> {
    match ev.project_id.as_deref() {
        Some(p) if p != project_id && p != project_slug => Err(RejectReason::ProjectMismatch),
        _ => Ok(ev),
    }
}

fn check_opt_out<'e>(
    ev: Cow<'e, Event>,
    opted_out: &OptedOut<'_>,
) -> Result<Cow<'e, Event>, RejectReason> {
    match ev.anonymous_id.as_deref() {
        Some(id) if opted_out.contains(id) => Err(RejectReason::OptedOut),
        _ => Ok(ev),
    }
}

/// One COPY row: a field per `columns::EVENT_COLUMNS`, in that order.
fn write_row(buf: &mut Vec<u8>, ev: &Event, project_id: &str, received_at: &[u8]) {
    let mut w = RowWriter::new(buf);
    w.text(Some(project_id))
        .text(Some(&ev.message_id))
        .text(Some(&ev.event))
        .with_raw(|o| write_pg_timestamp(o, ev.ts))
        .with_raw(|o| o.extend_from_slice(received_at))
        .text(ev.distinct_id())
        .text(ev.anonymous_id.as_deref())
        .text(ev.user_id.as_deref())
        .text(ev.session_id.as_deref())
        .text(ev.url.as_deref())
        .text(ev.path.as_deref())
        .text(ev.referrer_host.as_deref())
        .text(ev.utm_source.as_deref())
        .text(ev.utm_medium.as_deref())
        .text(ev.utm_campaign.as_deref())
        .text(ev.utm_term.as_deref())
        .text(ev.utm_content.as_deref())
        .text(ev.browser)
        .text(ev.os)
        .text(ev.device_type)
        .text(ev.country)
        .text(ev.language.as_deref())
        .text(ev.timezone.as_deref())
        .text(ev.ip_prefix.as_deref())
        .text(ev.library.as_deref())
        .text(Some(&ev.properties))
        .text(ev.context.as_deref())
        .text(ev.error.as_ref().map(|e| e.fingerprint.as_str()))
        .finish();
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::copy_text::decode_row;
    use crate::validate::{parse_request, Limits, RequestInfo, RequestKind};
    use crate::EVENT_COLUMNS;
    use serde_json::{json, Value};

    const FIREFOX: &str = "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0";

    fn batch(events: Value, ip: &str, ua: &str) -> ParsedRequest {
        let info = RequestInfo {
            received_at_ms: 1_700_000_000_000,
            ip: Some(ip),
            user_agent: Some(ua),
            ..RequestInfo::default()
        };
        let body = json!({ "batch": events }).to_string();
        parse_request(
            body.as_bytes(),
            RequestKind::Batch,
            &info,
            &Limits::default(),
        )
        .unwrap()
    }

    fn column(enc: &EncodedBatch, name: &str) -> Vec<Option<String>> {
        let at = EVENT_COLUMNS.iter().position(|c| *c == name).unwrap();
        String::from_utf8(enc.copy_rows.clone())
            .unwrap()
            .lines()
            .map(|l| decode_row(l)[at].clone())
            .collect()
    }

    fn page(url: &str) -> Value {
        json!({"event": "$pageview", "anonymous_id": "a", "context": {"page": {"url": url}}})
    }

    #[test]
    fn sources_refuse_other_hostnames_event_by_event() {
        let req = batch(
            json!([
                page("https://Shop.Example.com./a"),
                page("https://evil.example.net/a"),
                page("https://www.shop.example.com/a"),
                {"event": "server_side", "anonymous_id": "a"},
                {"event": "x", "anonymous_id": "a", "properties": {"$current_url": "http://shop.example.com:8080/"}},
            ]),
            "203.0.113.1",
            FIREFOX,
        );
        let rules = ProjectRules {
            sources: &["shop.example.com"],
            ..ProjectRules::default()
        };
        let enc = encode_for(&req, "p_1", "web", &[], &rules);
        assert_eq!(enc.accepted, 3);
        let refused: Vec<_> = enc
            .rejected
            .iter()
            .map(|(i, r)| (*i, r.code(), r.extras()))
            .collect();
        assert_eq!(
            refused,
            [
                (
                    1,
                    "invalid_source",
                    vec![("hostname", crate::Extra::Str("evil.example.net".into()))]
                ),
                (
                    2,
                    "invalid_source",
                    vec![("hostname", crate::Extra::Str("www.shop.example.com".into()))]
                ),
            ]
        );
        assert!(enc.new_sources.is_empty());
        // No sources: anything goes.
        let enc = encode_for(&req, "p_1", "web", &[], &ProjectRules::default());
        assert_eq!(enc.accepted, 5);
    }

    #[test]
    fn auto_registered_sources_are_reported_once() {
        let req = batch(
            json!([
                page("https://b.example/x"),
                page("https://a.example/"),
                page("https://B.example/y")
            ]),
            "203.0.113.1",
            FIREFOX,
        );
        let rules = ProjectRules {
            sources: &["a.example"],
            auto_register_sources: true,
            ..ProjectRules::default()
        };
        let enc = encode_for(&req, "p_1", "web", &[], &rules);
        assert_eq!(
            (enc.accepted, enc.new_sources.clone()),
            (3, vec!["b.example".to_string()])
        );
    }

    #[test]
    fn cookieless_events_get_an_id_from_the_salt() {
        let events = json!([
            {"event": "$pageview", "context": {"cookieless": true}},
            {"event": "$pageview", "context": {"cookieless": true}},
            {"event": "$pageview", "context": {"cookieless": true, "ip": "198.51.100.2"}},
            {"event": "$pageview", "context": {"cookieless": "yes"}},
            {"event": "$pageview"},
        ]);
        let req = batch(events.clone(), "203.0.113.1", FIREFOX);
        assert!(req.cookieless);
        let salt = [3u8; 16];
        let rules = ProjectRules {
            cookieless_salt: Some(&salt),
            ..ProjectRules::default()
        };
        let enc = encode_for(&req, "p_1", "web", &[], &rules);
        assert_eq!(enc.accepted, 3);
        let codes: Vec<_> = enc.rejected.iter().map(|(i, r)| (*i, r.code())).collect();
        assert_eq!(codes, [(3, "missing_field"), (4, "missing_field")]);
        let ids = column(&enc, "anonymous_id");
        let expected = cookieless::visitor_id(
            &salt,
            "p_1",
            &cookieless::Visitor {
                ip: "203.0.113.1".into(),
                user_agent: FIREFOX.into(),
            },
        );
        assert_eq!(ids[0].as_deref(), Some(expected.as_str()));
        assert_eq!(ids[0], ids[1]);
        assert_ne!(ids[0], ids[2]);
        assert_eq!(column(&enc, "distinct_id")[0], ids[0]);
        // The raw address and User-Agent are nowhere in the rows.
        let rows = String::from_utf8(enc.copy_rows.clone()).unwrap();
        assert!(!rows.contains("203.0.113.1") && !rows.contains("198.51.100.2"));
        assert!(!rows.contains("Firefox/121"));
        // Another day's salt, another person; no salt, refused.
        let other = [4u8; 16];
        let rules = ProjectRules {
            cookieless_salt: Some(&other),
            ..ProjectRules::default()
        };
        assert_ne!(
            column(&encode_for(&req, "p_1", "web", &[], &rules), "anonymous_id")[0],
            ids[0]
        );
        assert_eq!(encode(&req, "p_1", "web", &[]).accepted, 0);
        // Without an address there is nothing to derive a person from.
        let info = RequestInfo::default();
        let body = json!({"event": "$pageview", "context": {"cookieless": true}}).to_string();
        let req = parse_request(
            body.as_bytes(),
            RequestKind::Track,
            &info,
            &Limits::default(),
        )
        .unwrap();
        assert_eq!(req.events[0].as_ref().unwrap_err().code(), "missing_field");
    }

    #[test]
    fn errors_are_grouped_by_fingerprint() {
        let stack = |host: &str| format!("TypeError: x\n    at f (https://{host}/app.js?v=1:10:2)");
        let req = batch(
            json!([
                {"event": "$error", "anonymous_id": "a", "timestamp": "2023-11-14T10:00:00Z",
                 "properties": {"type": "TypeError", "message": "x 1", "stack": stack("a.io")}},
                {"event": "$error", "anonymous_id": "b", "timestamp": "2023-11-14T09:00:00Z",
                 "properties": {"type": "TypeError", "message": "x 2", "stack": stack("b.io:81")}},
                {"event": "$error", "anonymous_id": "b", "properties": {"type": 7}},
                {"event": "not_an_error", "anonymous_id": "b", "properties": {"type": "TypeError"}},
            ]),
            "203.0.113.1",
            FIREFOX,
        );
        let enc = encode(&req, "p_1", "web", &[]);
        assert_eq!(enc.accepted, 4);
        let prints = column(&enc, "fingerprint");
        assert_eq!(prints[0], prints[1]);
        assert!(prints[2].is_some() && prints[2] != prints[0] && prints[3].is_none());
        assert_eq!(enc.errors.len(), 2);
        let group = enc
            .errors
            .iter()
            .find(|g| Some(&g.fingerprint) == prints[0].as_ref())
            .unwrap();
        assert_eq!(group.count, 2);
        assert_eq!(
            (group.error_type.as_str(), group.message.as_str()),
            ("TypeError", "x 2")
        );
        assert!(group.first_ts < group.last_ts);
        assert!(enc
            .errors
            .windows(2)
            .all(|w| w[0].fingerprint < w[1].fingerprint));
    }
}
