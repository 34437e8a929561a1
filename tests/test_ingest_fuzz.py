"""Property-based: arbitrary bodies never produce a 500, and a batch's answer accounts for every event."""

from __future__ import annotations

import json
import uuid

from hypothesis import HealthCheck, given, settings, strategies as st

json_values = st.recursive(
    st.none() | st.booleans() | st.integers() | st.floats(allow_nan=False, allow_infinity=False) | st.text(max_size=20),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=20)

_event_fields = st.fixed_dictionaries(
    {"event": st.one_of(st.text(max_size=30), st.sampled_from(["$pageview", "$bogus", "ok"]), json_values)},
    optional={"anonymous_id": st.one_of(st.text(max_size=10), json_values),
              "user_id": st.one_of(st.text(max_size=10), json_values),
              "properties": json_values, "context": json_values,
              "timestamp": st.one_of(st.text(max_size=30), st.integers(), st.just("2026-01-01T00:00:00Z")),
              "message_id": st.one_of(st.uuids().map(str), json_values)})
event_like = st.builds(lambda fields, extra: {**extra, **fields}, _event_fields,
                       st.dictionaries(st.text(min_size=1, max_size=8), json_values, max_size=2))

FUZZ = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                        HealthCheck.too_slow])


@FUZZ
@given(body=st.one_of(json_values, event_like))
def test_track_never_500s(client, project, body):
    answer = client.post("/analytics/v1/track", data=json.dumps(body), content_type="application/json",
                         headers=project.key_headers)
    assert answer.status_code in (200, 400), (answer.status_code, answer.data[:300])
    assert ("data" if answer.status_code == 200 else "error") in answer.get_json()


@FUZZ
@given(events=st.lists(event_like, min_size=1, max_size=20))
def test_batch_accounts_for_every_event(client, project, events):
    answer = client.post("/analytics/v1/batch", json={"batch": events}, headers=project.key_headers)
    assert answer.status_code == 200, answer.data[:300]
    data = answer.get_json()["data"]
    indices = [r["index"] for r in data["rejected"]]
    assert indices == sorted(set(indices))
    assert data["accepted"] + len(indices) == len(events)


@FUZZ
@given(raw=st.binary(max_size=200))
def test_arbitrary_bytes_never_500(client, project, raw):
    answer = client.post("/analytics/v1/batch", data=raw, content_type="text/plain", headers=project.key_headers)
    assert answer.status_code == 400 or (answer.status_code == 200 and b'"data"' in answer.data)
