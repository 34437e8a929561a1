//! Each translation is checked through the validator it feeds: what would be stored.

use serde_json::{json, Value};

use super::*;
use crate::enrich::Event;
use crate::reject::{RejectReason, RequestError};
use crate::validate::{parse_request, Limits, ParsedRequest, RequestInfo, RequestKind};

const RECEIVED_MS: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z
const CHROME: &str = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36";

fn validate(t: &Translated) -> ParsedRequest {
    let info = RequestInfo {
        received_at_ms: RECEIVED_MS,
        ..Default::default()
    };
    parse_request(&t.body, RequestKind::Batch, &info, &Limits::default()).unwrap_or_else(|e| {
        panic!(
            "translated body refused: {e}: {}",
            String::from_utf8_lossy(&t.body)
        )
    })
}

fn ph(body: &Value) -> (Translated, ParsedRequest) {
    let t = posthog(body.to_string().as_bytes(), RECEIVED_MS, None).unwrap();
    let parsed = validate(&t);
    (t, parsed)
}

fn seg(body: &Value, call: Option<&str>) -> (Translated, ParsedRequest) {
    let call = call.map(|c| SegmentCall::parse(c).unwrap());
    let t = segment(body.to_string().as_bytes(), call).unwrap();
    let parsed = validate(&t);
    (t, parsed)
}

fn ok(p: &ParsedRequest, i: usize) -> &Event {
    p.events[i]
        .as_ref()
        .unwrap_or_else(|e| panic!("event {i} rejected: {e}"))
}

fn props(ev: &Event) -> Value {
    serde_json::from_str(&ev.properties).unwrap()
}

fn ms(ev: &Event) -> i64 {
    ev.ts / 1000
}

#[test]
fn posthog_python_batch_keeps_key_ids_uuid_and_times() {
    let (t, p) = ph(&json!({
        "batch": [{"event": "order_paid", "distinct_id": "u_1", "timestamp": "2023-11-14T22:13:10Z",
                   "uuid": "0b0b0b0b-0000-4000-8000-000000000001",
                   "properties": {"cents": 1999, "$lib": "posthog-python", "$lib_version": "7.91.1"}}],
        "historical_migration": false, "sent_at": "2023-11-14T22:13:20Z", "api_key": "rapk_x"}));
    assert_eq!(t.key.as_deref(), Some("rapk_x"));
    let ev = ok(&p, 0);
    assert_eq!(ev.event, "order_paid");
    assert_eq!(ev.anonymous_id.as_deref(), Some("u_1"));
    assert_eq!(ev.user_id, None);
    assert_eq!(ev.message_id, "0b0b0b0b-0000-4000-8000-000000000001");
    assert_eq!(ms(ev), RECEIVED_MS - 10_000);
    assert_eq!(
        props(ev),
        json!({"cents": 1999, "$lib": "posthog-python", "$lib_version": "7.91.1"})
    );
    assert_eq!(ev.library.as_deref(), Some("posthog-python/7.91.1"));
}

#[test]
fn posthog_js_identified_event_keeps_device_and_never_the_raw_user_agent() {
    let (t, p) = ph(
        &json!({"api_key": "k", "sent_at": "2023-11-14T22:13:20Z", "batch": [{
        "uuid": "01890000-0000-7000-8000-000000000001", "event": "$pageview", "offset": 2500,
        "properties": {"token": "k", "distinct_id": "u_9", "$device_id": "dev_1", "$is_identified": true,
                       "$raw_user_agent": CHROME, "$current_url": "https://shop.example/cart?x=1",
                       "$timezone": "Europe/Paris", "$lib": "web", "$lib_version": "1.449.2"}}]}),
    );
    assert_eq!(t.key.as_deref(), Some("k"));
    let ev = ok(&p, 0);
    assert_eq!(ev.user_id.as_deref(), Some("u_9"));
    assert_eq!(ev.anonymous_id.as_deref(), Some("dev_1"));
    assert_eq!(ms(ev), RECEIVED_MS - 2500);
    assert_eq!(ev.path.as_deref(), Some("/cart"));
    assert_eq!(ev.browser, Some("Chrome"));
    assert_eq!(ev.country, Some("FR"));
    let stored = format!("{}{}", ev.properties, ev.context.as_deref().unwrap_or(""));
    assert!(
        !stored.contains("Mozilla"),
        "raw User-Agent stored: {stored}"
    );
    assert!(!stored.contains("\"token\""), "key stored: {stored}");
}

#[test]
fn posthog_offset_without_sent_at_counts_back_from_receipt() {
    let (_, p) = ph(
        &json!([{"event": "a", "offset": 1000, "properties": {"distinct_id": "d", "token": "k"}}]),
    );
    assert_eq!(ms(ok(&p, 0)), RECEIVED_MS - 1000);
    let t = posthog(
        br#"[{"event":"a","offset":1000,"properties":{"distinct_id":"d"}}]"#,
        RECEIVED_MS,
        Some(RECEIVED_MS - 60_000),
    )
    .unwrap();
    // sent_at from the URL: the client's clock was a minute behind; the time is still receipt - offset.
    assert_eq!(ms(ok(&validate(&t), 0)), RECEIVED_MS - 1000);
}

#[test]
fn posthog_identify_links_anonymous_id_and_sets_traits() {
    let (_, p) = ph(&json!({"api_key": "k", "batch": [{"event": "$identify",
        "properties": {"distinct_id": "u_1", "$anon_distinct_id": "anon_1", "$is_identified": false},
        "$set": {"plan": "pro"}, "$set_once": {"first_seen": "x", "plan": "free"}}]}));
    let ev = ok(&p, 0);
    assert_eq!(ev.event, "$identify");
    assert_eq!(ev.link, Some(("anon_1".into(), "u_1".into())));
    let traits: Value = serde_json::from_str(ev.traits.as_deref().unwrap()).unwrap();
    assert_eq!(traits, json!({"first_seen": "x", "plan": "pro"}));
}

#[test]
fn posthog_create_alias_links_distinct_id_to_alias() {
    // posthog-python: alias(previous_id="anon_2", distinct_id="u_2")
    let (_, p) = ph(
        &json!({"api_key": "k", "batch": [{"event": "$create_alias", "distinct_id": "anon_2",
        "properties": {"distinct_id": "anon_2", "alias": "u_2"}}]}),
    );
    let ev = ok(&p, 0);
    assert_eq!(ev.event, "$alias");
    assert_eq!(ev.link, Some(("anon_2".into(), "u_2".into())));
}

#[test]
fn posthog_js_alias_of_an_identified_user_adds_the_alias_to_that_user() {
    // posthog-js: identify("u_5") then alias("crm_5"); before identify, alias("u_6").
    let (_, p) = ph(&json!({"api_key": "k", "batch": [
        {"event": "$create_alias", "properties": {"token": "k", "distinct_id": "u_5",
            "alias": "crm_5", "$is_identified": true, "$device_id": "dev_5"}},
        {"event": "$create_alias", "properties": {"token": "k", "distinct_id": "dev_6",
            "alias": "u_6", "$is_identified": false, "$device_id": "dev_6"}}]}));
    assert_eq!(ok(&p, 0).link, Some(("crm_5".into(), "u_5".into())));
    assert_eq!(ok(&p, 1).link, Some(("dev_6".into(), "u_6".into())));
}

#[test]
fn posthog_set_gives_a_person_traits_unless_not_identified() {
    let (_, p) = ph(&json!({"api_key": "k", "batch": [
        {"event": "$set", "distinct_id": "u_3", "$set": {"email": "a@b"}, "properties": {}},
        {"event": "$set", "distinct_id": "anon", "properties": {"$is_identified": false, "$set": {"x": 1}}},
        {"$token": "k", "$distinct_id": "u_4", "$set": {"name": "N"}}]}));
    let first = ok(&p, 0);
    assert_eq!(
        (first.user_id.as_deref(), first.traits.as_deref()),
        (Some("u_3"), Some(r#"{"email":"a@b"}"#))
    );
    let second = ok(&p, 1);
    assert_eq!(
        (second.anonymous_id.as_deref(), second.user_id.as_deref()),
        (Some("anon"), None)
    );
    let engage = ok(&p, 2);
    assert_eq!(
        (engage.user_id.as_deref(), engage.traits.as_deref()),
        (Some("u_4"), Some(r#"{"name":"N"}"#))
    );
}

#[test]
fn posthog_single_event_and_bare_list_and_other_projects() {
    let (t, p) = ph(&json!({"event": "x", "properties": {"distinct_id": 42, "token": "k"}}));
    assert_eq!(t.key.as_deref(), Some("k"));
    assert_eq!(ok(&p, 0).anonymous_id.as_deref(), Some("42"));

    let (t, p) = ph(
        &json!([{"event": "x", "properties": {"distinct_id": "a", "token": "k"}},
                            {"event": "y", "properties": {"distinct_id": "a", "token": "other"}}, 7]),
    );
    assert_eq!(t.key.as_deref(), Some("k"));
    ok(&p, 0);
    assert_eq!(p.events[1], Err(RejectReason::InvalidEvent));
    assert_eq!(p.events[2], Err(RejectReason::InvalidEvent));
}

#[test]
fn posthog_exception_is_an_error_and_unknown_dollar_events_stay_reserved() {
    let (_, p) = ph(
        &json!([{"event": "$exception", "properties": {"distinct_id": "a"}},
                            {"event": "$rageclick", "properties": {"distinct_id": "a"}},
                            {"properties": {"distinct_id": "a"}}]),
    );
    assert_eq!(ok(&p, 0).event, "$error");
    assert_eq!(p.events[1].as_ref().unwrap_err().code(), "system_reserved");
    assert_eq!(p.events[2].as_ref().unwrap_err().code(), "missing_field");
}

#[test]
fn posthog_bad_bodies_are_request_errors() {
    assert!(matches!(
        posthog(b"{\"batch\": [", RECEIVED_MS, None),
        Err(RequestError::InvalidJson { .. })
    ));
    assert!(matches!(
        posthog(b"\"x\"", RECEIVED_MS, None),
        Err(RequestError::InvalidRequest { .. })
    ));
    assert!(matches!(
        posthog(b"{\"batch\": 3}", RECEIVED_MS, None),
        Err(RequestError::InvalidRequest { .. })
    ));
    assert!(matches!(
        posthog(b"\xff", RECEIVED_MS, None),
        Err(RequestError::InvalidJson { .. })
    ));
}

#[test]
fn segment_python_batch_of_every_type() {
    let ctx = json!({"library": {"name": "analytics-python", "version": "2.4.0"}});
    let (t, p) = seg(
        &json!({"writeKey": "wk", "sentAt": "2023-11-14T22:13:20Z", "batch": [
        {"type": "track", "event": "Signed Up", "userId": null, "anonymousId": "a1", "messageId": "m1",
         "timestamp": "2023-11-14T22:13:19Z", "properties": {"plan": "pro"}, "context": ctx, "integrations": {}},
        {"type": "identify", "userId": "u1", "anonymousId": "a1", "messageId": "m2", "traits": {"email": "e@x"}, "context": ctx},
        {"type": "alias", "previousId": "a2", "userId": "u1", "messageId": "m3", "context": ctx},
        {"type": "page", "userId": "u1", "name": "Docs", "category": "Help", "messageId": "m4",
         "properties": {"url": "https://docs.example/start?a=1", "path": "/start"}, "context": ctx},
        {"type": "screen", "userId": "u1", "name": "Home", "messageId": "m5", "properties": {}},
        {"type": "group", "userId": "u1", "groupId": "g1", "traits": {"n": 1}},
        {"type": "bogus", "userId": "u1"}]}),
        None,
    );
    assert_eq!(t.key.as_deref(), Some("wk"));
    let track = ok(&p, 0);
    assert_eq!(
        (
            track.event.as_str(),
            track.anonymous_id.as_deref(),
            track.message_id.as_str()
        ),
        ("Signed Up", Some("a1"), "m1")
    );
    assert_eq!(ms(track), RECEIVED_MS - 1000);
    assert_eq!(track.library.as_deref(), Some("analytics-python/2.4.0"));
    let identify = ok(&p, 1);
    assert_eq!(identify.link, Some(("a1".into(), "u1".into())));
    assert_eq!(identify.traits.as_deref(), Some(r#"{"email":"e@x"}"#));
    assert_eq!(ok(&p, 2).link, Some(("a2".into(), "u1".into())));
    let page = ok(&p, 3);
    assert_eq!(
        (page.event.as_str(), page.path.as_deref()),
        ("$pageview", Some("/start"))
    );
    assert_eq!(props(page)["name"], "Docs");
    assert_eq!(props(page)["category"], "Help");
    assert_eq!(ok(&p, 4).event, "$screen");
    assert_eq!(p.events[5].as_ref().unwrap_err().code(), "system_reserved");
    assert_eq!(p.events[6], Err(RejectReason::InvalidEvent));
}

#[test]
fn segment_browser_call_reads_context_user_agent_and_ip_without_storing_them() {
    let (t, p) = seg(
        &json!({"type": "track", "event": "Clicked", "anonymousId": "a", "writeKey": "wk",
        "messageId": "ajs-next-1700000000000-5b1c", "sentAt": "2023-11-14T22:13:20Z",
        "context": {"userAgent": CHROME, "ip": "198.51.100.23", "page": {"url": "https://x.example/p"}},
        "_metadata": {"bundled": []}}),
        Some("t"),
    );
    assert_eq!(t.key.as_deref(), Some("wk"));
    let ev = ok(&p, 0);
    assert_eq!(ev.browser, Some("Chrome"));
    assert_eq!(ev.ip_prefix.as_deref(), Some("198.51.100.0"));
    let ctx = ev.context.as_deref().unwrap();
    assert!(
        !ctx.contains("Mozilla") && !ctx.contains("198.51.100.23"),
        "{ctx}"
    );
    assert_eq!(ev.path.as_deref(), Some("/p"));
}

#[test]
fn segment_messages_of_another_write_key_and_bad_shapes() {
    let (_, p) = seg(
        &json!({"writeKey": "wk", "batch": [
        {"type": "track", "event": "e", "userId": "u", "writeKey": "other"},
        {"type": "track", "event": "e", "userId": "u", "properties": [1]}]}),
        None,
    );
    assert_eq!(p.events[0], Err(RejectReason::InvalidEvent));
    assert_eq!(p.events[1].as_ref().unwrap_err().code(), "invalid_field");
    assert!(matches!(
        segment(b"[]", None),
        Err(RequestError::InvalidRequest { .. })
    ));
    assert!(matches!(
        segment(b"{\"batch\":{}}", None),
        Err(RequestError::InvalidRequest { .. })
    ));
    assert!(matches!(
        segment(b"{", Some(SegmentCall::Track)),
        Err(RequestError::InvalidJson { .. })
    ));
}
