"""Hourly buckets across a DST fall-back night (README "Aggregate": calendar buckets in the query
timezone, keyed by instant, so the repeated hour is two buckets). The dates are pinned, so the
test means the same thing whatever day it runs."""

from __future__ import annotations

import uuid
from datetime import datetime

import pytest

from conftest import ADMIN

# (zone, the fall-back night's local hours around the change, the repeated hour's two offsets)
NIGHTS = [
    # New York 2025-11-02: 02:00 EDT (-04:00) becomes 01:00 EST (-05:00); 01:xx happens twice.
    ("America/New_York", "2025-11-02T00:00:00-04:00", "2025-11-02T03:00:00-05:00", "01", ("-04:00", "-05:00")),
    # Berlin 2025-10-26: 03:00 CEST (+02:00) becomes 02:00 CET (+01:00); 02:xx happens twice.
    ("Europe/Berlin", "2025-10-26T01:00:00+02:00", "2025-10-26T04:00:00+01:00", "02", ("+02:00", "+01:00")),
]


@pytest.mark.parametrize("zone, start, end, hour, offsets", NIGHTS, ids=[n[0] for n in NIGHTS])
def test_a_fall_back_hour_is_two_hourly_buckets(client, project, zone, start, end, hour, offsets):
    # Old events: keep them past the default 90 days, whatever sweeps run in this session.
    assert client.patch(f"/analytics/v1/projects/{project.id}", json={"retention_days": 3650},
                        headers=ADMIN).status_code == 200
    day = start[:10]
    first, second = (f"{day}T{hour}:30:00{offset}" for offset in offsets)
    events = [(first, "u1"), (first, "u2"),                   # the first 01:30 (New York) / 02:30 (Berlin)
              (second, "u1"), (second, "u3"), (second, "u4")]  # the same wall clock, an hour later
    batch = [{"event": "e", "user_id": user, "timestamp": ts, "message_id": str(uuid.uuid4())} for ts, user in events]
    assert client.post("/analytics/v1/batch", json={"batch": batch},
                       headers=project.key_headers).get_json()["data"]["accepted"] == 5

    def hourly(measure: str) -> list[tuple[str, int]]:
        answer = client.post("/analytics/v1/query", json={
            "project_id": project.id, "kind": "aggregate", "time_bucket": "1h", "timezone": zone,
            "measure": measure, "time_range": {"from": start, "to": end}}, headers=ADMIN)
        assert answer.status_code == 200, answer.get_json()
        return [(row["bucket"], row["value"]) for row in answer.get_json()["data"]["rows"]]

    # Four local hours of wall clock that are four real hours: every one is a bucket, the
    # repeated one twice, each keyed by its own instant.
    counts = hourly("count")
    assert len(counts) == 4, counts
    instants = [datetime.fromisoformat(bucket) for bucket, _ in counts]
    assert [(b - instants[0]).total_seconds() for b in instants] == [0, 3600, 7200, 10800]
    repeated = [(bucket, value) for bucket, value in counts if bucket[11:13] == hour]
    assert [datetime.fromisoformat(b) for b, _ in repeated] == [datetime.fromisoformat(f"{day}T{hour}:00:00{o}")
                                                                for o in offsets]
    assert [value for _, value in repeated] == [2, 3]
    assert sum(value for _, value in counts) == 5
    # unique_users counts per bucket: u1 once in each of the two hours.
    assert [value for bucket, value in hourly("unique_users") if bucket[11:13] == hour] == [2, 3]
