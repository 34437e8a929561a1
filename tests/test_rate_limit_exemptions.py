"""What the per-address rate limit leaves alone (README "Rate limits"): ingest with a bearer
token spends no token, and `/metrics` (with `/health`) is never limited, even for an address
whose bucket is empty."""

from __future__ import annotations

import time

import jwt
import pytest
import requests

from conftest import ADMIN, JWT_SECRET, LiveServer, unique_slug

BURST = 4


@pytest.fixture(scope="module")
def limited(postgres, tmp_path_factory):
    # A bucket of BURST tokens that refills one token every 100 s: nothing refills during the test.
    server = LiveServer(postgres, tmp_path_factory.mktemp("ratelimit"), workers=2,
                        REACTOR_ANALYTICS_RATE_LIMIT_PER_SECOND="0.01",
                        REACTOR_ANALYTICS_RATE_LIMIT_BURST=str(BURST)).start()
    try:
        yield server
    finally:
        server.stop()


def test_bearer_ingest_and_metrics_spend_no_tokens(limited):
    url = limited.url
    # Requests with the admin token carry credentials: they spend nothing either.
    project = requests.post(url + "/analytics/v1/projects", json={"slug": unique_slug("rl")}, headers=ADMIN,
                            timeout=10).json()["data"]["id"]
    key = requests.post(f"{url}/analytics/v1/projects/{project}/keys", json={"name": "k"}, headers=ADMIN,
                        timeout=10).json()["data"]["key"]
    token = jwt.encode({"sub": "backend", "permissions": [f"analytics:{project}:ingest"],
                        "exp": int(time.time()) + 600}, JWT_SECRET, algorithm="HS256")
    bearer = {"Authorization": f"Bearer {token}", "X-Reactor-Project": project, "Connection": "close"}

    # Three times the burst of server-side ingest and of scrapes: every one answered.
    for i in range(3 * BURST):
        answer = requests.post(url + "/analytics/v1/track", json={"event": "server", "user_id": f"u{i}"},
                               headers=bearer, timeout=10)
        assert answer.status_code == 200, (i, answer.status_code, answer.text)
        answer = requests.post(url + "/analytics/v1/batch", json={"batch": [{"event": "server", "user_id": "u"}]},
                               headers=bearer, timeout=10)
        assert answer.status_code == 200, (i, answer.status_code, answer.text)
    for i in range(3 * BURST):
        scrape = requests.get(url + "/metrics", headers={"Connection": "close"}, timeout=10)
        assert scrape.status_code == 200, (i, scrape.status_code, scrape.text[:200])

    # The address still has its whole bucket: browser ingest (a project key) spends it, and only
    # then is refused. So the limit is on, and what came before spent nothing.
    browser = {"X-Reactor-Project-Key": key, "Connection": "close"}
    statuses = [requests.post(url + "/analytics/v1/track", json={"event": "browser", "anonymous_id": "a"},
                              headers=browser, timeout=10).status_code for _ in range(BURST + 2)]
    assert statuses == [200] * BURST + [429, 429]
    refused = requests.post(url + "/analytics/v1/track", json={"event": "browser", "anonymous_id": "a"},
                            headers=browser, timeout=10)
    assert refused.json()["error"]["code"] == "analytics.rate_limited"

    # With the bucket empty, scrapes and probes are still answered.
    for _ in range(BURST):
        assert requests.get(url + "/metrics", timeout=10).status_code == 200
        assert requests.get(url + "/health", timeout=10).status_code == 200
    accepted = [line for line in requests.get(url + "/metrics", timeout=10).text.splitlines()
                if line.startswith("reactor_analytics_events_accepted_total")]
    assert accepted, "no accepted-events counter scraped"
