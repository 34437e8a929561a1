use super::*;
use serde_json::json;

const NOW: i64 = 1_767_225_600_000_000; // 2026-01-01T00:00:00Z
const LIMITS: Limits = Limits {
    events_max_days: 90,
    max_days: 730,
    max_rows_scanned: 1_000,
};

fn plan(body: Value) -> Result<Plan, QueryError> {
    Plan::new(body.to_string().as_bytes(), "p_1", NOW, &LIMITS)
}

fn refused(body: Value) -> QueryError {
    plan(body.clone()).expect_err(&body.to_string())
}

fn code(body: Value) -> &'static str {
    refused(body).code.as_str()
}

#[test]
fn defaults_are_the_documented_ones() {
    let p = plan(json!({"kind": "aggregate", "project_id": "web-prod"})).unwrap();
    assert_eq!(
        (p.from_us, p.to_us, p.now_us),
        (NOW - 30 * DAY_US, NOW, NOW)
    );
    assert_eq!(
        (p.tz, &p.project, p.max_rows_scanned),
        (Tz::UTC, &"p_1".to_string(), 1_000)
    );
    assert_eq!(p.kind, Kind::Aggregate(AggregateQuery::default()));
    let Kind::Funnel(f) = plan(json!({"kind": "funnel", "steps": [{"event": "a"}]}))
        .unwrap()
        .kind
    else {
        panic!()
    };
    assert_eq!(
        (f.conversion_window, f.order),
        (Window::default(), Order::Sequential)
    );
    let Kind::Retention(r) = plan(json!({"kind": "retention", "cohort_event": "signup"}))
        .unwrap()
        .kind
    else {
        panic!()
    };
    assert_eq!(
        (r.return_event().as_str(), r.period, r.periods.get()),
        ("signup", Period::Week, 4)
    );
    let Kind::Path(q) = plan(json!({"kind": "path", "end_event": "buy"}))
        .unwrap()
        .kind
    else {
        panic!()
    };
    assert_eq!(
        (q.anchor().unwrap(), q.depth.get(), q.limit.get()),
        (Anchor::End(&"buy".into()), 5, 10)
    );
    let Kind::Events(e) = plan(json!({"kind": "events"})).unwrap().kind else {
        panic!()
    };
    assert_eq!(e.limit.get(), 100);
    let Kind::Breakdown(b) = plan(json!({"kind": "breakdown", "prop": "plan"}))
        .unwrap()
        .kind
    else {
        panic!()
    };
    assert_eq!((b.measure, b.limit.get()), (Measure::Count, 10));
}

#[test]
fn null_means_the_default_where_it_did_and_is_refused_elsewhere() {
    let p = plan(
        json!({"kind": "aggregate", "filter": null, "measure": null, "group_by": null, "time_bucket": null}),
    );
    assert_eq!(p.unwrap().kind, Kind::Aggregate(AggregateQuery::default()));
    assert!(plan(json!({"kind": "path", "start_event": "a", "end_event": null})).is_ok());
    assert_eq!(
        code(json!({"kind": "events", "limit": null})),
        "analytics.query.invalid_field"
    );
    assert_eq!(
        code(json!({"kind": "aggregate", "time_range": null})),
        "analytics.query.invalid_time_range"
    );
    assert_eq!(
        code(json!({"kind": "aggregate", "timezone": null})),
        "analytics.query.invalid_timezone"
    );
    assert_eq!(
        code(json!({"kind": "retention", "cohort_event": null})),
        "analytics.query.invalid_field"
    );
}

#[test]
fn bad_queries_get_the_readme_codes() {
    // The cases of tests/test_query_api.py, and more of each code.
    let cases = [
        (json!({"kind": "histogram"}), "unknown_kind"),
        (json!({}), "unknown_kind"),
        (json!({"kind": 3}), "unknown_kind"),
        (
            json!({"kind": "aggregate", "time_range": {"last": "forever"}}),
            "invalid_duration",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"last": 30}}),
            "invalid_duration",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"last": "800d"}}),
            "range_too_large",
        ),
        (
            json!({"kind": "events", "time_range": {"last": "91d"}}),
            "range_too_large",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"from": "yesterday"}}),
            "invalid_time_range",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"from": "2026-01-02", "to": "2026-01-01"}}),
            "invalid_time_range",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"to": "2026-01-01"}}),
            "invalid_time_range",
        ),
        (
            json!({"kind": "aggregate", "timezone": "Mars/Olympus"}),
            "invalid_timezone",
        ),
        (
            json!({"kind": "aggregate", "filter": {"prop": {"plan": {"like": "p%"}}}}),
            "unknown_operator",
        ),
        (
            json!({"kind": "aggregate", "filter": {"event": {"gt": 3}}}),
            "unknown_operator",
        ),
        (
            json!({"kind": "aggregate", "filter": {"not": {"trait": {"event": {"like": 3}}}}}),
            "unknown_operator",
        ),
        (
            json!({"kind": "aggregate", "filter": {"xor": []}}),
            "invalid_filter",
        ),
        (
            json!({"kind": "aggregate", "filter": {"all": [{"event": {"eq": "a"}}, {"not": 1}]}}),
            "invalid_filter",
        ),
        (
            json!({"kind": "aggregate", "filter": {"prop": {"n": {"gt": "three"}}}}),
            "invalid_filter",
        ),
        (
            json!({"kind": "aggregate", "measure": "median"}),
            "invalid_measure",
        ),
        (
            json!({"kind": "breakdown", "prop": "p", "measure": {"sum": 1}}),
            "invalid_measure",
        ),
        (
            json!({"kind": "aggregate", "time_bucket": "5m"}),
            "invalid_field",
        ),
        (
            json!({"kind": "aggregate", "time_bucket": "1h", "time_range": {"last": "32d"}}),
            "too_many_buckets",
        ),
        (
            json!({"kind": "aggregate", "group_by": [{"prop": ""}]}),
            "invalid_field",
        ),
        (
            json!({"kind": "funnel", "steps": vec![json!({"event": "a"}); 21]}),
            "invalid_steps",
        ),
        (json!({"kind": "funnel", "steps": []}), "invalid_steps"),
        (json!({"kind": "funnel", "steps": "a,b"}), "invalid_steps"),
        (json!({"kind": "funnel"}), "invalid_steps"),
        (
            json!({"kind": "funnel", "steps": [{"event": "a", "x": 1}]}),
            "invalid_steps",
        ),
        (
            json!({"kind": "funnel", "steps": [{"event": ""}]}),
            "invalid_steps",
        ),
        (
            json!({"kind": "funnel", "steps": [{"event": "a", "filter": {"xor": 1}}]}),
            "invalid_filter",
        ),
        (
            json!({"kind": "funnel", "steps": [{"event": "a"}], "conversion_window": "7 days"}),
            "invalid_duration",
        ),
        (
            json!({"kind": "funnel", "steps": [{"event": "a"}], "conversion_window": "400d"}),
            "invalid_duration",
        ),
        (
            json!({"kind": "funnel", "steps": [{"event": "a"}], "order": "any"}),
            "invalid_field",
        ),
        (json!({"kind": "retention"}), "invalid_field"),
        (
            json!({"kind": "retention", "cohort_event": "a", "period": "month"}),
            "invalid_field",
        ),
        (
            json!({"kind": "retention", "cohort_event": "a", "periods": 91}),
            "invalid_field",
        ),
        (json!({"kind": "breakdown"}), "invalid_field"),
        (
            json!({"kind": "path", "start_event": "a", "end_event": "b"}),
            "invalid_field",
        ),
        (json!({"kind": "path"}), "invalid_field"),
        (
            json!({"kind": "path", "start_event": "a", "depth": 21}),
            "invalid_field",
        ),
        (json!({"kind": "events", "limit": 1001}), "invalid_field"),
        (json!({"kind": "events", "limit": "10"}), "invalid_field"),
        (json!({"kind": "aggregate", "steps": []}), "unknown_field"),
        (
            json!({"kind": "events", "measure": "count"}),
            "unknown_field",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            code(body.clone()),
            format!("analytics.query.{expected}"),
            "{body}"
        );
    }
}

#[test]
fn errors_name_the_field_and_the_limit() {
    let e = refused(
        json!({"kind": "funnel", "steps": [{"event": "a", "filter": {"prop": {"plan": {"like": 1}}}}]}),
    );
    assert_eq!(e.field.as_deref(), Some("steps[0].filter.prop.plan"));
    let e = refused(json!({"kind": "aggregate", "filter": {"event": {"gt": 3}}}));
    assert_eq!(e.field.as_deref(), Some("filter.event"));
    let e = refused(json!({"kind": "funnel", "steps": [{"event": "a"}, {"event": 3}]}));
    assert_eq!(e.field.as_deref(), Some("steps[1].event"));
    let e = refused(json!({"kind": "funnel", "steps": vec![json!({"event": "a"}); 21]}));
    assert_eq!(
        (e.field.as_deref(), e.limit),
        (Some("steps"), Some(("limit", 20)))
    );
    let e = refused(json!({"kind": "funnel"}));
    assert_eq!(
        (e.field.as_deref(), e.limit),
        (Some("steps"), Some(("limit", 20)))
    );
    let e = refused(json!({"kind": "funnel", "steps": [{"event": ""}]}));
    assert_eq!(
        (e.field.as_deref(), e.limit),
        (Some("steps[0].event"), None)
    );
    let e = refused(json!({"kind": "breakdown", "prop": "", "limit": 0}));
    assert_eq!(e.field.as_deref(), Some("prop"));
    let e = refused(json!({"kind": "events", "time_range": {"last": "91d"}}));
    assert_eq!(
        (e.field.as_deref(), e.limit),
        (Some("time_range"), Some(("limit_days", 90)))
    );
    let e =
        refused(json!({"kind": "aggregate", "time_bucket": "1h", "time_range": {"last": "745h"}}));
    assert_eq!(e.field.as_deref(), Some("time_bucket"));
    let e = refused(json!({"kind": "aggregate", "limit": 3}));
    assert_eq!(
        (e.code, e.field.as_deref()),
        (Code::UnknownField, Some("limit"))
    );
    let e = refused(json!({"kind": "retention"}));
    assert_eq!(e.field.as_deref(), Some("cohort_event"));
    let e = refused(json!({"kind": "aggregate", "time_range": {"last": "1x"}}));
    assert_eq!(e.field.as_deref(), Some("time_range.last"));
}

#[test]
fn ranges_at_their_limits() {
    assert!(plan(json!({"kind": "events", "time_range": {"last": "90d"}})).is_ok());
    assert!(plan(json!({"kind": "aggregate", "time_range": {"last": "730d"}})).is_ok());
    assert!(
        plan(json!({"kind": "aggregate", "time_bucket": "1h", "time_range": {"last": "31d"}}))
            .is_ok()
    );
    assert!(plan(
        json!({"kind": "aggregate", "time_bucket": "1d", "time_range": {"last": "400d"}})
    )
    .is_ok());
    let exact = plan(
        json!({"kind": "aggregate", "time_range": {"from": "2026-01-01T00:00:00Z", "to": "2026-02-01T00:00:01Z"}}),
    );
    assert_eq!(exact.unwrap().to_us - NOW, 31 * DAY_US + 1_000_000);
    let open = plan(json!({"kind": "aggregate", "time_range": {"from": "2025-12-31"}})).unwrap();
    assert_eq!((open.from_us, open.to_us), (NOW - DAY_US, NOW));
}

#[test]
fn filter_size_is_checked_for_the_query_and_every_step() {
    let any = |n: usize| json!({"any": (0..n).map(|i| json!({"event": {"eq": format!("e{i}")}})).collect::<Vec<_>>()});
    assert!(plan(json!({"kind": "aggregate", "filter": any(200)})).is_ok());
    let e = refused(json!({"kind": "aggregate", "filter": any(201)}));
    assert_eq!(
        (e.code, e.field.as_deref()),
        (Code::FilterTooComplex, Some("filter"))
    );
    let e = refused(
        json!({"kind": "funnel", "steps": [{"event": "a"}, {"event": "b", "filter": any(201)}]}),
    );
    assert_eq!(
        (e.code, e.field.as_deref()),
        (Code::FilterTooComplex, Some("steps[1].filter"))
    );
    let mut deep = json!({"prop": {"a": {"eq": 1}}});
    for _ in 0..50 {
        deep = json!({"not": deep});
    }
    assert_eq!(
        code(json!({"kind": "aggregate", "filter": deep})),
        "analytics.query.filter_too_complex"
    );
    let deeper = format!(
        r#"{{"kind": "aggregate", "filter": {}{}}}"#,
        r#"{"not": "#.repeat(200),
        "}".repeat(200)
    );
    let e = Plan::new(deeper.as_bytes(), "p", NOW, &LIMITS).unwrap_err();
    assert_eq!(e.code, Code::FilterTooComplex);
}

#[test]
fn time_ranges_are_last_or_from_to() {
    for bad in [
        json!({"last": "1d", "from": "1970-01-02"}),
        json!({"to": "1970-01-02"}),
        json!({}),
        json!({"last": "1d", "x": 1}),
        json!("30d"),
    ] {
        assert_eq!(
            code(json!({"kind": "events", "time_range": bad})),
            "analytics.query.invalid_time_range",
            "{bad}"
        );
    }
    let e = refused(json!({"kind": "events", "time_range": {"last": null}}));
    assert_eq!(
        (e.code, e.field.as_deref()),
        (Code::InvalidDuration, Some("time_range.last"))
    );
    let e = refused(json!({"kind": "events", "time_range": {"from": "2026-01-01", "to": 3}}));
    assert_eq!(
        (e.code, e.field.as_deref()),
        (Code::InvalidTimeRange, Some("time_range.to"))
    );
    let p = plan(
        json!({"kind": "events", "time_range": {"from": "2025-12-31", "to": "2026-01-01T00:00"}}),
    )
    .unwrap();
    assert_eq!((p.from_us, p.to_us), (NOW - DAY_US, NOW));
}

#[test]
fn bodies_that_are_not_json_objects() {
    assert_eq!(
        Plan::new(b"{", "p", NOW, &LIMITS).unwrap_err().code,
        Code::InvalidJson
    );
    assert_eq!(
        Plan::new(b"[]", "p", NOW, &LIMITS).unwrap_err().code,
        Code::InvalidRequest
    );
}

#[test]
fn a_full_funnel_reads_as_typed() {
    let p = plan(json!({
        "kind": "funnel", "time_range": {"last": "7d"}, "timezone": "Europe/Berlin",
        "steps": [{"event": "view"}, {"event": "buy", "filter": {"prop": {"amount": {"gte": 10}}}}],
        "conversion_window": "1d", "order": "strict", "group_by": [{"prop": "plan"}],
        "filter": {"not": {"event": {"eq": "$identify"}}}
    }))
    .unwrap();
    assert_eq!(p.tz, Tz::Europe__Berlin);
    let Kind::Funnel(f) = &p.kind else { panic!() };
    assert_eq!(f.steps[1].event.as_str(), "buy");
    assert_eq!(
        f.steps[1].filter,
        Some(Filter::Prop(Named {
            name: "amount".into(),
            cond: Cond::Gte(10.0)
        }))
    );
    assert_eq!(
        (f.conversion_window.0, f.order),
        (Duration(DAY_US), Order::Strict)
    );
    assert_eq!(f.group_by.0, vec![GroupBy::Prop("plan".into())]);
    assert_eq!(p.kind.name(), "funnel");
}

#[test]
fn kind_fields_are_read_from_the_derive() {
    assert_eq!(
        kind_fields("funnel"),
        ["steps", "conversion_window", "order", "group_by"]
    );
    assert_eq!(kind_fields("events"), ["limit"]);
    for kind in Kind::NAMES {
        let own = !["realtime", "summary"].contains(&kind);
        assert_eq!(!kind_fields(kind).is_empty(), own, "{kind}");
    }
    assert_eq!(
        kind_fields("web"),
        ["metrics", "dimension", "time_bucket", "limit", "compare"]
    );
}

#[test]
fn with_several_faults_the_readme_order_decides() {
    // kind, then unknown fields, time_range, timezone, filter, and the kind's own fields last.
    let cases = [
        (json!({"kind": "histogram", "stepz": 1}), "unknown_kind"),
        (
            json!({"kind": "funnel", "steps": "x", "stepz": 1}),
            "unknown_field",
        ),
        (
            json!({"kind": "funnel", "time_range": 1, "timezone": 1}),
            "invalid_time_range",
        ),
        (
            json!({"kind": "events", "time_range": {"last": "91d"}, "timezone": 1}),
            "range_too_large",
        ),
        (
            json!({"kind": "events", "limit": null, "timezone": 0}),
            "invalid_timezone",
        ),
        (
            json!({"kind": "funnel", "filter": {"all": []}}),
            "invalid_filter",
        ),
        (
            json!({"kind": "aggregate", "measure": "median", "filter": {"xor": 1}}),
            "invalid_filter",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"last": "x", "from": 1}}),
            "invalid_time_range",
        ),
        (
            json!({"kind": "aggregate", "time_range": {"last": "x", "x": 1}}),
            "invalid_time_range",
        ),
        (
            json!({"kind": "funnel", "conversion_window": "x"}),
            "invalid_steps",
        ),
        (json!({"kind": "breakdown", "measure": 1}), "invalid_field"),
        (
            json!({"kind": "funnel", "steps": [], "conversion_window": "x"}),
            "invalid_steps",
        ),
        (
            json!({"kind": "aggregate", "time_bucket": "x", "measure": "x"}),
            "invalid_measure",
        ),
        (
            json!({"kind": "breakdown", "prop": "", "limit": 0}),
            "invalid_field",
        ),
    ];
    for (body, expected) in cases {
        assert_eq!(
            code(body.clone()),
            format!("analytics.query.{expected}"),
            "{body}"
        );
    }
}
