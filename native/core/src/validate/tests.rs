use super::*;
use crate::columns::EVENT_COLUMNS;
use crate::copy_text::decode_row;
use crate::encode::encode;
use serde_json::{json, Value};

const RECEIVED_MS: i64 = 1_700_000_000_000; // 2023-11-14T22:13:20Z

fn info() -> RequestInfo<'static> {
    RequestInfo {
        received_at_ms: RECEIVED_MS,
        ip: Some("203.0.113.77"),
        user_agent: Some("Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36"),
        accept_language: Some("en-GB,en;q=0.9"),
        geo: None,
    }
}

fn parse(kind: RequestKind, body: &Value) -> Result<ParsedRequest, RequestError> {
    parse_request(
        body.to_string().as_bytes(),
        kind,
        &info(),
        &Limits::default(),
    )
}

fn reason(req: &ParsedRequest, i: usize) -> Option<&RejectReason> {
    req.events[i].as_ref().err()
}

fn code(req: &ParsedRequest, i: usize) -> &'static str {
    reason(req, i).map_or("ok", RejectReason::code)
}

fn ok(req: &ParsedRequest, i: usize) -> &Event {
    req.events[i]
        .as_ref()
        .unwrap_or_else(|e| panic!("event {i} rejected: {e}"))
}

/// The single row of a one-event request, as column name → value.
fn row_of(req: &ParsedRequest) -> Vec<(&'static str, Option<String>)> {
    let enc = encode(req, "p_1", "web-prod", &[]);
    let text = String::from_utf8(enc.copy_rows).unwrap();
    let lines: Vec<_> = text.lines().collect();
    assert_eq!(lines.len(), 1);
    EVENT_COLUMNS
        .iter()
        .copied()
        .zip(decode_row(lines[0]))
        .collect()
}

fn col<'a>(row: &'a [(&'static str, Option<String>)], name: &str) -> Option<&'a str> {
    row.iter().find(|(n, _)| *n == name).unwrap().1.as_deref()
}

#[test]
fn track_minimal_event() {
    let req = parse(RequestKind::Track, &json!({"event": "signup", "anonymous_id": "a1", "key": "rapk_x", "project_id": "web-prod"})).unwrap();
    assert_eq!(req.event_count(), 1);
    assert_eq!(req.key.as_deref(), Some("rapk_x"));
    assert_eq!(req.project_id.as_deref(), Some("web-prod"));
    assert_eq!(req.anonymous_ids, ["a1"]);
    let ev = ok(&req, 0);
    assert_eq!(ev.event, "signup");
    assert_eq!(ev.properties, "{}");
    assert_eq!(ev.context, None);
    assert_eq!(ev.message_id.len(), 36, "fresh UUID");
    let row = row_of(&req);
    assert_eq!(row.len(), crate::EVENT_COLUMNS.len());
    assert_eq!(col(&row, "project_id"), Some("p_1"));
    assert_eq!(col(&row, "ts"), Some("2023-11-14 22:13:20.000000+00"));
    assert_eq!(
        col(&row, "received_at"),
        Some("2023-11-14 22:13:20.000000+00")
    );
    assert_eq!(col(&row, "distinct_id"), Some("a1"));
    assert_eq!(col(&row, "user_id"), None);
    assert_eq!(col(&row, "browser"), Some("Chrome"));
    assert_eq!(col(&row, "os"), Some("Windows"));
    assert_eq!(col(&row, "device_type"), Some("desktop"));
    assert_eq!(col(&row, "language"), Some("en"));
    assert_eq!(col(&row, "ip_prefix"), Some("203.0.113.0"));
    assert_eq!(col(&row, "properties"), Some("{}"));
    assert_eq!(col(&row, "context"), None);
}

#[test]
fn track_full_event_row() {
    let req = parse(
        RequestKind::Track,
        &json!({
            "event": "$pageview", "anonymous_id": "a1", "user_id": "u1", "message_id": "m-1",
            "timestamp": "2023-11-14T22:00:00Z",
            "properties": {"plan": "pro", "note": "tab\there\nnewline \\ back"},
            "context": {"page": {"url": "https://example.com/docs/?utm_source=hn", "referrer": "https://www.reddit.com/r/x"},
                        "user_agent": "curl/8.4.0", "ip": "2001:db8:abcd:12::1", "timezone": "Asia/Tokyo",
                        "locale": "ja-JP", "library": {"name": "reactor-js", "version": "0.3.1"}, "session_id": "s1"}
        }),
    )
    .unwrap();
    let row = row_of(&req);
    assert_eq!(col(&row, "message_id"), Some("m-1"));
    assert_eq!(col(&row, "event"), Some("$pageview"));
    assert_eq!(col(&row, "ts"), Some("2023-11-14 22:00:00.000000+00"));
    assert_eq!(col(&row, "distinct_id"), Some("u1"));
    assert_eq!(col(&row, "anonymous_id"), Some("a1"));
    assert_eq!(col(&row, "session_id"), Some("s1"));
    assert_eq!(col(&row, "path"), Some("/docs"));
    assert_eq!(col(&row, "referrer_host"), Some("reddit.com"));
    assert_eq!(col(&row, "utm_source"), Some("hn"));
    assert_eq!(col(&row, "device_type"), Some("bot"));
    assert_eq!(col(&row, "browser"), Some("curl"));
    assert_eq!(col(&row, "country"), Some("JP"));
    assert_eq!(col(&row, "language"), Some("ja"));
    assert_eq!(col(&row, "timezone"), Some("Asia/Tokyo"));
    assert_eq!(col(&row, "ip_prefix"), Some("2001:db8:abcd::"));
    assert_eq!(col(&row, "library"), Some("reactor-js/0.3.1"));
    let props: Value = serde_json::from_str(col(&row, "properties").unwrap()).unwrap();
    assert_eq!(props["note"], "tab\there\nnewline \\ back");
    let ctx: Value = serde_json::from_str(col(&row, "context").unwrap()).unwrap();
    assert!(
        ctx.get("user_agent").is_none() && ctx.get("ip").is_none(),
        "raw UA and IP never stored"
    );
    assert_eq!(ctx["timezone"], "Asia/Tokyo");
}

#[test]
fn camel_case_user_agent_and_ip_are_classified_and_never_stored() {
    let iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 Mobile/15E148 Safari/604.1";
    let req = parse(
        RequestKind::Track,
        &json!({"event": "page_viewed", "anonymous_id": "a1",
                "context": {"userAgent": iphone, "user_agent": iphone, "ip": "203.0.113.9",
                            "locale": "de-DE", "page": {"path": "/x"}}}),
    )
    .unwrap();
    let row = row_of(&req);
    // Classified from the event's own User-Agent, not the request's (Chrome on Windows).
    assert_eq!(col(&row, "browser"), Some("Safari"));
    assert_eq!(col(&row, "os"), Some("iOS"));
    assert_eq!(col(&row, "device_type"), Some("mobile"));
    assert_eq!(col(&row, "ip_prefix"), Some("203.0.113.0"));
    let ctx: Value = serde_json::from_str(col(&row, "context").unwrap()).unwrap();
    assert_eq!(ctx, json!({"locale": "de-DE", "page": {"path": "/x"}}));
    let text = String::from_utf8(encode(&req, "p_1", "web-prod", &[]).copy_rows).unwrap();
    assert!(!text.contains("iPhone OS") && !text.contains("203.0.113.9"));
}

#[test]
fn batch_keeps_good_events_with_correct_indices() {
    let req = parse(
        RequestKind::Batch,
        &json!({"batch": [
            {"event": "a", "anonymous_id": "x"},
            "not an object",
            {"event": "$custom", "anonymous_id": "x"},
            {"event": "b", "user_id": "u"},
            {"event": "c"},
            {"event": "d", "anonymous_id": "y", "colour": "red"},
            {"event": "e", "anonymous_id": "y"},
        ]}),
    )
    .unwrap();
    assert_eq!(req.event_count(), 7);
    let codes: Vec<_> = (0..7).map(|i| code(&req, i)).collect();
    assert_eq!(
        codes,
        [
            "ok",
            "invalid_event",
            "system_reserved",
            "ok",
            "missing_field",
            "unknown_field",
            "ok"
        ]
    );
    assert_eq!(req.anonymous_ids, ["x", "y"]);
    let enc = encode(&req, "p_1", "web-prod", &[]);
    assert_eq!(enc.accepted, 3);
    let idx: Vec<_> = enc.rejected.iter().map(|(i, r)| (*i, r.code())).collect();
    assert_eq!(
        idx,
        [
            (1, "invalid_event"),
            (2, "system_reserved"),
            (4, "missing_field"),
            (5, "unknown_field")
        ]
    );
    assert_eq!(
        enc.rejected[3].1.extras(),
        vec![("field", crate::reject::Extra::Str("colour".into()))]
    );
    let text = String::from_utf8(enc.copy_rows).unwrap();
    let events: Vec<_> = text
        .lines()
        .map(|l| decode_row(l)[2].clone().unwrap())
        .collect();
    assert_eq!(events, ["a", "b", "e"]);
}

#[test]
fn reserved_names() {
    for name in SYSTEM_EVENTS {
        let req = parse(
            RequestKind::Track,
            &json!({"event": name, "anonymous_id": "a"}),
        )
        .unwrap();
        assert_eq!(code(&req, 0), "ok", "{name}");
    }
    for name in ["$pageviews", "$", "$set", "$Pageview"] {
        let req = parse(
            RequestKind::Track,
            &json!({"event": name, "anonymous_id": "a"}),
        )
        .unwrap();
        assert_eq!(code(&req, 0), "system_reserved", "{name}");
    }
    // A `$` in the middle is an ordinary name.
    let req = parse(
        RequestKind::Track,
        &json!({"event": "price$", "anonymous_id": "a"}),
    )
    .unwrap();
    assert_eq!(code(&req, 0), "ok");
}

#[test]
fn invalid_names_and_fields() {
    let cases = [
        (
            json!({"event": "", "anonymous_id": "a"}),
            "invalid_name",
            None,
        ),
        (
            json!({"event": "x".repeat(201), "anonymous_id": "a"}),
            "invalid_name",
            None,
        ),
        (
            json!({"event": "é".repeat(200), "anonymous_id": "a"}),
            "ok",
            None,
        ),
        (
            json!({"event": "a\u{7}b", "anonymous_id": "a"}),
            "invalid_name",
            None,
        ),
        (
            json!({"event": 5, "anonymous_id": "a"}),
            "invalid_field",
            Some("event"),
        ),
        (json!({"anonymous_id": "a"}), "missing_field", Some("event")),
        (
            json!({"event": null, "anonymous_id": "a"}),
            "missing_field",
            Some("event"),
        ),
        (
            json!({"event": "e", "anonymous_id": ""}),
            "invalid_field",
            Some("anonymous_id"),
        ),
        (
            json!({"event": "e", "anonymous_id": 42}),
            "invalid_field",
            Some("anonymous_id"),
        ),
        (
            json!({"event": "e", "user_id": "u\n1"}),
            "invalid_field",
            Some("user_id"),
        ),
        (
            json!({"event": "e", "user_id": "u".repeat(201)}),
            "invalid_field",
            Some("user_id"),
        ),
        (
            json!({"event": "e", "user_id": "u", "message_id": ""}),
            "invalid_field",
            Some("message_id"),
        ),
        (
            json!({"event": "e", "user_id": "u", "project_id": 7}),
            "invalid_field",
            Some("project_id"),
        ),
        (
            json!({"event": "e", "user_id": "u", "properties": []}),
            "invalid_field",
            Some("properties"),
        ),
        (
            json!({"event": "e", "user_id": "u", "context": "x"}),
            "invalid_field",
            Some("context"),
        ),
        (
            json!({"event": "e", "user_id": "u", "timestamp": "last tuesday"}),
            "invalid_timestamp",
            Some("timestamp"),
        ),
        (
            json!({"event": "e", "user_id": "u", "sent_at": true}),
            "invalid_timestamp",
            Some("sent_at"),
        ),
        (
            json!({"event": "e", "user_id": "u", "properties": null, "context": null}),
            "ok",
            None,
        ),
    ];
    for (body, want, field) in cases {
        let req = parse(RequestKind::Track, &body).unwrap();
        assert_eq!(code(&req, 0), want, "{body}");
        if let Some(field) = field {
            let extras = reason(&req, 0).unwrap().extras();
            assert_eq!(
                extras,
                vec![("field", crate::reject::Extra::Str(field.into()))],
                "{body}"
            );
        }
    }
}

#[test]
fn unknown_fields() {
    let req = parse(
        RequestKind::Track,
        &json!({"event": "e", "anonymous_id": "a", "type": "track"}),
    )
    .unwrap();
    assert_eq!(
        reason(&req, 0),
        Some(&RejectReason::UnknownField {
            field: "type".into()
        })
    );
    // key/api_key belong to the request, not to a batch element.
    let req = parse(
        RequestKind::Batch,
        &json!({"batch": [{"event": "e", "anonymous_id": "a", "key": "k"}]}),
    )
    .unwrap();
    assert_eq!(
        reason(&req, 0),
        Some(&RejectReason::UnknownField {
            field: "key".into()
        })
    );
    let req = parse(
        RequestKind::Identify,
        &json!({"user_id": "u", "properties": {}}),
    )
    .unwrap();
    assert_eq!(
        reason(&req, 0),
        Some(&RejectReason::UnknownField {
            field: "properties".into()
        })
    );
}

#[test]
fn nul_anywhere_in_properties_or_context_is_rejected() {
    let cases = [
        (json!({"properties": {"a": "x\u{0}y"}}), "properties"),
        (
            json!({"properties": {"a": [1, {"b": ["\u{0}"]}]}}),
            "properties",
        ),
        (json!({"properties": {"k\u{0}": 1}}), "properties"),
        (json!({"context": {"page": {"title": "\u{0}"}}}), "context"),
    ];
    for (extra, field) in cases {
        let mut body = json!({"event": "e", "anonymous_id": "a"});
        body.as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        let req = parse(RequestKind::Track, &body).unwrap();
        assert_eq!(code(&req, 0), "invalid_field", "{body}");
        assert_eq!(
            reason(&req, 0).unwrap().extras()[0].1,
            crate::reject::Extra::Str(field.into())
        );
    }
    // The escape sequence as text (backslash, u, 0000) is fine.
    let req = parse(
        RequestKind::Track,
        &json!({"event": "e", "anonymous_id": "a", "properties": {"a": "\\u0000"}}),
    )
    .unwrap();
    assert_eq!(code(&req, 0), "ok");
}

#[test]
fn properties_size_limit_edge() {
    let limits = Limits {
        max_properties_bytes: 100,
        max_batch_events: 100,
    };
    // {"p":"xxx…"} is n + 8 bytes.
    let body = |n: usize| {
        json!({"event": "e", "anonymous_id": "a", "properties": {"p": "x".repeat(n)}}).to_string()
    };
    let at = parse_request(body(92).as_bytes(), RequestKind::Track, &info(), &limits).unwrap();
    assert_eq!(code(&at, 0), "ok");
    assert_eq!(ok(&at, 0).properties.len(), 100);
    let over = parse_request(body(93).as_bytes(), RequestKind::Track, &info(), &limits).unwrap();
    assert_eq!(
        reason(&over, 0),
        Some(&RejectReason::PropertiesTooLarge {
            limit_bytes: 100,
            size_bytes: 101
        })
    );
    assert_eq!(
        reason(&over, 0).unwrap().extras(),
        vec![("limit_bytes", crate::reject::Extra::Int(100))]
    );
    // Context counts too (as stored: without user_agent and ip).
    let b = json!({"event": "e", "anonymous_id": "a", "properties": {"p": "x".repeat(90)}, "context": {"user_agent": "x".repeat(500)}}).to_string();
    let r = parse_request(b.as_bytes(), RequestKind::Track, &info(), &limits).unwrap();
    assert_eq!(code(&r, 0), "ok", "98 + 2 bytes of stored context = 100");
    let b = json!({"event": "e", "anonymous_id": "a", "properties": {"p": "x".repeat(91)}, "context": {}}).to_string();
    let r = parse_request(b.as_bytes(), RequestKind::Track, &info(), &limits).unwrap();
    assert_eq!(code(&r, 0), "properties_too_large");
}

#[test]
fn skew_correction_event_and_envelope_sent_at() {
    // Client clock 1 h behind: event at client 21:12:20, sent at client 21:13:20, received 22:13:20.
    let req = parse(
        RequestKind::Batch,
        &json!({"sent_at": "2023-11-14T21:13:20Z", "batch": [
            {"event": "a", "anonymous_id": "x", "timestamp": "2023-11-14T21:12:20Z"},
            {"event": "b", "anonymous_id": "x", "timestamp": "2023-11-14T21:12:20Z", "sent_at": "2023-11-14T21:12:50Z"},
            {"event": "c", "anonymous_id": "x"},
            {"event": "d", "anonymous_id": "x", "timestamp": 1_700_000_000_000i64 + 7_200_000},
        ]}),
    )
    .unwrap();
    let ts: Vec<_> = (0..4)
        .map(|i| crate::time::format_pg_timestamp(ok(&req, i).ts))
        .collect();
    assert_eq!(ts[0], "2023-11-14 22:12:20.000000+00");
    assert_eq!(ts[1], "2023-11-14 22:12:50.000000+00");
    assert_eq!(
        ts[2], "2023-11-14 22:13:20.000000+00",
        "no timestamp: received_at"
    );
    // Epoch-ms timestamp 2 h in the future with the envelope's sent_at an hour behind: corrected
    // to 3 h ahead, then clamped to received_at.
    assert_eq!(ts[3], "2023-11-14 22:13:20.000000+00");
}

#[test]
fn whole_body_errors() {
    let p = |body: &[u8], kind| {
        parse_request(body, kind, &info(), &Limits::default())
            .map(|_| ())
            .unwrap_err()
            .code()
    };
    assert_eq!(
        p(b"{not json", RequestKind::Track),
        "analytics.invalid_json"
    );
    assert_eq!(p(b"", RequestKind::Track), "analytics.invalid_json");
    assert_eq!(
        p(b"{\"event\": \"\xff\xfe\"}", RequestKind::Track),
        "analytics.invalid_json"
    );
    assert_eq!(p(b"[1,2]", RequestKind::Track), "analytics.invalid_request");
    assert_eq!(p(b"\"x\"", RequestKind::Batch), "analytics.invalid_request");
    assert_eq!(p(b"{}", RequestKind::Batch), "analytics.invalid_request");
    assert_eq!(
        p(br#"{"batch": [], "events": []}"#, RequestKind::Batch),
        "analytics.invalid_request"
    );
    assert_eq!(
        p(br#"{"batch": [{}], "events": [{}]}"#, RequestKind::Batch),
        "analytics.invalid_request"
    );
    assert_eq!(
        p(br#"{"batch": {}}"#, RequestKind::Batch),
        "analytics.invalid_request"
    );
    assert_eq!(
        p(br#"{"batch": []}"#, RequestKind::Batch),
        "analytics.invalid_request"
    );
    assert_eq!(
        p(br#"{"batch": [{}], "writeKey": "x"}"#, RequestKind::Batch),
        "analytics.invalid_request"
    );
    assert_eq!(
        p(br#"{"batch": [{}], "sent_at": "soon"}"#, RequestKind::Batch),
        "analytics.invalid_request"
    );
    assert_eq!(
        p(
            br#"{"event": "e", "anonymous_id": "a", "key": 5}"#,
            RequestKind::Track
        ),
        "analytics.invalid_request"
    );
    let many = json!({"events": vec![json!({"event": "e", "anonymous_id": "a"}); 101]}).to_string();
    assert_eq!(
        p(many.as_bytes(), RequestKind::Batch),
        "analytics.batch.too_many_events"
    );
    let err = parse_request(
        br#"{"batch": [{}], "writeKey": "x"}"#,
        RequestKind::Batch,
        &info(),
        &Limits::default(),
    )
    .unwrap_err();
    assert!(err.message().contains("writeKey"));
    assert!(RequestKind::parse("page").is_err());
}

#[test]
fn deep_nesting_is_invalid_json_not_a_crash() {
    for depth in [200usize, 100_000] {
        let body = format!(
            "{{\"event\":\"e\",\"anonymous_id\":\"a\",\"properties\":{{\"x\":{}{}}}}}",
            "[".repeat(depth),
            "]".repeat(depth)
        );
        let err = parse_request(
            body.as_bytes(),
            RequestKind::Track,
            &info(),
            &Limits::default(),
        )
        .map(|_| ())
        .unwrap_err();
        assert_eq!(err.code(), "analytics.invalid_json");
        assert!(err.message().len() < 200, "message does not echo the input");
    }
}

#[test]
fn bom_and_events_alias_of_batch() {
    let mut body = b"\xEF\xBB\xBF".to_vec();
    body.extend_from_slice(br#"{"events": [{"event": "e", "anonymous_id": "a"}], "api_key": "rapk_1", "project_id": "p_1"}"#);
    let req = parse_request(&body, RequestKind::Batch, &info(), &Limits::default()).unwrap();
    assert_eq!(code(&req, 0), "ok");
    assert_eq!(req.key.as_deref(), Some("rapk_1"));
    assert_eq!(req.project_id.as_deref(), Some("p_1"));
}

#[test]
fn identify_links_and_traits() {
    let req = parse(
        RequestKind::Identify,
        &json!({"user_id": "u1", "anonymous_id": "a1", "traits": {"plan": "pro"}}),
    )
    .unwrap();
    let ev = ok(&req, 0);
    assert_eq!(ev.event, "$identify");
    assert_eq!(ev.properties, r#"{"plan":"pro"}"#);
    let enc = encode(&req, "p_1", "web", &[]);
    assert_eq!(enc.links, [("a1".to_string(), "u1".to_string())]);
    assert_eq!(
        enc.traits,
        [("u1".to_string(), r#"{"plan":"pro"}"#.to_string())]
    );

    let req = parse(RequestKind::Identify, &json!({"user_id": "u1"})).unwrap();
    let enc = encode(&req, "p_1", "web", &[]);
    assert!(enc.links.is_empty() && enc.traits.is_empty());
    assert_eq!(enc.accepted, 1);

    let req = parse(RequestKind::Identify, &json!({"anonymous_id": "a"})).unwrap();
    assert_eq!(
        reason(&req, 0),
        Some(&RejectReason::MissingField { field: "user_id" })
    );
}

#[test]
fn alias_links() {
    let req = parse(
        RequestKind::Alias,
        &json!({"previous_id": "a1", "user_id": "u1", "key": "k"}),
    )
    .unwrap();
    let ev = ok(&req, 0);
    assert_eq!(
        (
            ev.event.as_str(),
            ev.anonymous_id.as_deref(),
            ev.user_id.as_deref()
        ),
        ("$alias", Some("a1"), Some("u1"))
    );
    assert_eq!(req.anonymous_ids, ["a1"]);
    assert_eq!(
        encode(&req, "p", "s", &[]).links,
        [("a1".to_string(), "u1".to_string())]
    );

    let req = parse(
        RequestKind::Alias,
        &json!({"previous_id": "u1", "user_id": "u1"}),
    )
    .unwrap();
    assert_eq!(code(&req, 0), "invalid_field");
    let req = parse(RequestKind::Alias, &json!({"user_id": "u1"})).unwrap();
    assert_eq!(
        reason(&req, 0),
        Some(&RejectReason::MissingField {
            field: "previous_id"
        })
    );
}

#[test]
fn identify_and_alias_inside_a_batch() {
    let req = parse(
        RequestKind::Batch,
        &json!({"batch": [
            {"event": "$identify", "anonymous_id": "a1", "user_id": "u1", "properties": {"$set": {"email": "x@y.z"}}},
            {"event": "$alias", "user_id": "u2", "properties": {"previous_id": "a2"}},
            {"event": "$identify", "user_id": "u3", "properties": {"$set": "nope"}},
        ]}),
    )
    .unwrap();
    let enc = encode(&req, "p", "s", &[]);
    assert_eq!(enc.accepted, 3);
    assert_eq!(
        enc.links,
        [
            ("a1".to_string(), "u1".to_string()),
            ("a2".to_string(), "u2".to_string())
        ]
    );
    assert_eq!(
        enc.traits,
        [("u1".to_string(), r#"{"email":"x@y.z"}"#.to_string())]
    );
    assert_eq!(enc.users, ["u1", "u2", "u3"]);
}

#[test]
fn every_user_id_of_an_accepted_event_is_a_user_once() {
    let req = parse(
        RequestKind::Batch,
        &json!({"batch": [
            {"event": "view", "user_id": "u_b"},
            {"event": "view", "user_id": "u_a", "anonymous_id": "anon"},
            {"event": "view", "anonymous_id": "anon_2"},
            {"event": "view", "user_id": "u_b"},
            {"event": "view", "user_id": "u_a"},
        ]}),
    )
    .unwrap();
    assert_eq!(encode(&req, "p", "s", &[]).users, ["u_a", "u_b"]);
}

#[test]
fn encode_applies_project_and_opt_out() {
    let req = parse(
        RequestKind::Batch,
        &json!({"batch": [
            {"event": "a", "anonymous_id": "x", "project_id": "p_1"},
            {"event": "b", "anonymous_id": "x", "project_id": "web-prod"},
            {"event": "c", "anonymous_id": "x", "project_id": "p_other"},
            {"event": "d", "anonymous_id": "gone", "user_id": "u"},
            {"event": "$identify", "anonymous_id": "gone", "user_id": "u"},
        ]}),
    )
    .unwrap();
    let enc = encode(&req, "p_1", "web-prod", &["gone"]);
    assert_eq!(enc.accepted, 2);
    let idx: Vec<_> = enc.rejected.iter().map(|(i, r)| (*i, r.code())).collect();
    assert_eq!(
        idx,
        [(2, "project_mismatch"), (3, "opted_out"), (4, "opted_out")]
    );
    assert!(enc.links.is_empty(), "links only from accepted events");
    assert!(enc.users.is_empty(), "users only from accepted events");
    // Many opted-out ids take the hash-set path.
    let many: Vec<String> = (0..50)
        .map(|i| format!("id{i}"))
        .chain(["x".to_string()])
        .collect();
    let many: Vec<&str> = many.iter().map(String::as_str).collect();
    assert_eq!(
        encode(&req, "p_1", "web-prod", &many).accepted,
        2,
        "only d and $identify remain"
    );
}

#[test]
fn generated_message_ids_are_distinct_uuid_v7_of_the_receive_time() {
    let events: Vec<Value> = (0..100)
        .map(|_| json!({"event": "e", "anonymous_id": "a"}))
        .collect();
    let req = parse(RequestKind::Batch, &json!({"batch": events})).unwrap();
    let received_ms = (req.received_at / 1_000) as u64;
    let ids: HashSet<_> = (0..100).map(|i| ok(&req, i).message_id.clone()).collect();
    assert_eq!(ids.len(), 100);
    for id in &ids {
        let u = uuid::Uuid::parse_str(id).unwrap();
        assert_eq!(u.get_version_num(), 7);
        let (secs, nanos) = u.get_timestamp().unwrap().to_unix();
        assert_eq!(secs * 1_000 + u64::from(nanos) / 1_000_000, received_ms);
        assert_eq!(id, &id.to_lowercase());
    }
}

#[test]
fn stored_json_is_compact_whatever_the_client_sent() {
    // Python's json.dumps puts spaces after separators; the stored text (and the size that is
    // checked) is the compact form.
    let body = br#"{"event": "e", "anonymous_id": "a", "properties": {"a": [1, 2], "b": {"c": "x y"}}, "context": {"ip": "1.2.3.4", "locale": "en"}}"#;
    let req = parse_request(body, RequestKind::Track, &info(), &Limits::default()).unwrap();
    let ev = ok(&req, 0);
    assert_eq!(ev.properties, r#"{"a":[1,2],"b":{"c":"x y"}}"#);
    assert_eq!(ev.context.as_deref(), Some(r#"{"locale":"en"}"#));
}

#[test]
fn unpaired_surrogates_are_refused_like_nul() {
    let body = br#"{"event": "e", "anonymous_id": "a", "properties": {"s": "\ud800"}}"#;
    let req = parse_request(body, RequestKind::Track, &info(), &Limits::default()).unwrap();
    assert_eq!(code(&req, 0), "invalid_field");
    let body = br#"{"event": "e", "anonymous_id": "a", "properties": {"s": "\ud83d\ude80"}}"#;
    let req = parse_request(body, RequestKind::Track, &info(), &Limits::default()).unwrap();
    assert_eq!(code(&req, 0), "ok");
}

#[test]
fn deep_values_outside_properties_do_not_crash() {
    let deep = format!("{}{}", "[".repeat(100_000), "]".repeat(100_000));
    let body = format!(r#"{{"event":"e","anonymous_id":"a","zzz":{deep}}}"#);
    let req = parse_request(
        body.as_bytes(),
        RequestKind::Track,
        &info(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(code(&req, 0), "unknown_field");
    let body =
        format!(r#"{{"batch":[{deep},{{"event":"e","anonymous_id":"a","timestamp":{deep}}}]}}"#);
    let req = parse_request(
        body.as_bytes(),
        RequestKind::Batch,
        &info(),
        &Limits::default(),
    )
    .unwrap();
    assert_eq!(
        (code(&req, 0), code(&req, 1)),
        ("invalid_event", "invalid_timestamp")
    );
}

#[test]
fn duplicate_keys_last_wins() {
    let body = br#"{"event": "first", "event": "second", "anonymous_id": "a", "properties": {"k": 1, "k": 2}}"#;
    let req = parse_request(body, RequestKind::Track, &info(), &Limits::default()).unwrap();
    assert_eq!(ok(&req, 0).event, "second");
}
