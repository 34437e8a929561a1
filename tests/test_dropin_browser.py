"""Drop-in capture from the browser: posthog-js and @segment/analytics-next from npm (pinned in
tests/sdks/package.json), unchanged, loaded by a test page in Chromium from a site on another
origin, their host pointed at the live service. What arrived is read from PostgreSQL; every
answer the SDKs got from the service is checked, and the page must log no error.

The SDKs run with their defaults as a user ships them. Two things make the test browser look like a
visitor's instead of an automated one, because posthog-js drops the events of a browser that says
it is automated (`navigator.webdriver`) or headless: Chromium runs without its automation flag and
the context sends the desktop Chrome User-Agent of the same version.
"""

from __future__ import annotations

import base64
import gzip
import json
import time
import uuid
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import psycopg
import pytest
import requests

from browser import launch, playwright_driver, site  # noqa: F401 (fixtures)
from conftest import ADMIN, LiveServer, events_of, unique_slug, wait_for

SDKS = Path(__file__).parent / "sdks" / "node_modules"
POSTHOG_JS = SDKS / "posthog-js" / "dist"
ANALYTICS_NEXT = SDKS / "@segment" / "analytics-next" / "dist" / "umd" / "index.js"
GZIP_MAGIC = b"\x1f\x8b"


def _version(package: str) -> str:
    return json.loads((SDKS / package / "package.json").read_text())["version"]


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("dropin-browser"), workers=1).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def browser(playwright_driver):
    chromium = launch(playwright_driver, args=["--disable-blink-features=AutomationControlled"])
    yield chromium
    chromium.close()


@pytest.fixture(scope="module")
def sdk_site(site):
    """The test site (another origin than the service) serving the SDKs' own browser bundles."""
    if not ANALYTICS_NEXT.exists():
        pytest.fail("tests/sdks/node_modules is missing: run `make test` (or npm ci in tests/sdks)")
    for name in ("array.full.js", "array.full.no-external.js", "module.js"):
        site.add(f"/posthog/{name}", (POSTHOG_JS / name).read_bytes(), "text/javascript")
    site.add("/segment/analytics-next.js", ANALYTICS_NEXT.read_bytes(), "text/javascript")
    site.add("/favicon.ico", b"", "image/x-icon")
    site.add("/next.html", "<!doctype html><html><head><title>Next</title></head><body>next</body></html>")
    return site


class Watched:
    """A page of a fresh context, with what it logged and every request it sent to the service."""

    def __init__(self, browser, service_url: str):
        major = browser.version.split(".")[0]
        self.user_agent = (f"Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) "
                           f"Chrome/{major}.0.0.0 Safari/537.36")
        self.context = browser.new_context(user_agent=self.user_agent, locale="fr-FR", timezone_id="Europe/Paris")
        self.page = self.context.new_page()
        self.service = service_url
        self.errors: list[str] = []
        self.sent: list = []  # each request to the service that was answered
        self.page.on("pageerror", lambda exc: self.errors.append(f"pageerror: {exc}"))
        self.page.on("console", self._console)
        self.page.on("requestfinished", self._finished)
        self.page.on("requestfailed", self._failed)

    def _console(self, message) -> None:
        if message.type == "error":
            self.errors.append(f"console: {message.text} at {message.location.get('url')}")

    def _finished(self, request) -> None:
        if request.url.startswith(self.service):
            self.sent.append(request)

    def _failed(self, request) -> None:
        if "ERR_ABORTED" not in (request.failure or ""):  # not a request cut short by leaving the page
            self.errors.append(f"failed: {request.method} {request.url} {request.failure}")

    def wait_sent(self, done, timeout_ms: float = 30_000) -> None:
        """Until `done(requests answered so far)`: waits on the page's own events, no sleeping."""
        deadline = time.monotonic() + timeout_ms / 1000
        while not done(self.sent):
            left = (deadline - time.monotonic()) * 1000
            assert left > 0, f"not sent within {timeout_ms} ms: {[q.url for q in self.sent]}"
            self.page.wait_for_event("requestfinished", timeout=left)

    def to(self, path: str, method: str = "POST") -> list:
        """(request, response) of each request sent to `path` of the service (query string aside)."""
        return [(q, q.response()) for q in self.sent if q.method == method and urlsplit(q.url).path == path]

    def close(self) -> None:
        self.context.close()


@pytest.fixture()
def watched(browser, server):
    page = Watched(browser, server.url)
    yield page
    page.close()


class Project:
    def __init__(self, server: LiveServer):
        made = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": unique_slug("sdk")},
                             headers=ADMIN, timeout=10)
        assert made.status_code == 201, made.text
        self.id = made.json()["data"]["id"]
        made = requests.post(f"{server.url}/analytics/v1/projects/{self.id}/keys", json={"name": "sdk"},
                             headers=ADMIN, timeout=10)
        assert made.status_code == 201, made.text
        self.key = made.json()["data"]["key"]


@pytest.fixture()
def project(server):
    return Project(server)


def html(title: str, head: str, body: str = "") -> str:
    return f"<!doctype html><html><head><title>{title}</title>{head}</head><body>{body}</body></html>"


def arrived(postgres, project: Project, names: list[str]) -> list[dict]:
    """The project's events once every name in `names` arrived (as many times as listed)."""
    def ready():
        rows = events_of(postgres, project.id)
        got = [r["event"] for r in rows]
        return all(got.count(n) >= names.count(n) for n in names) and rows
    return wait_for(ready, timeout=30, what=f"events {names}")


def links_of(postgres, project_id: str) -> set[tuple[str, str]]:
    with psycopg.connect(postgres.url) as conn:
        rows = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s",
                            (project_id,)).fetchall()
    return {(a, u) for a, u in rows if a != u}


def traits_of(postgres, project_id: str, user_id: str) -> dict:
    with psycopg.connect(postgres.url) as conn:
        row = conn.execute("SELECT traits FROM person_traits WHERE project_id = %s AND user_id = %s",
                           (project_id, user_id)).fetchone()
    return row[0] if row else {}


def body_text(request) -> str:
    data = request.post_data_buffer or b""
    return (gzip.decompress(data) if data[:2] == GZIP_MAGIC else data).decode()


def assert_private(rows: list[dict], watched: Watched, key: str) -> None:
    """Neither the raw User-Agent nor the visitor's address (127.0.0.1, here also the service's
    host, which posthog-js names in `$lib_custom_api_host`) reach the stored row; the key neither."""
    for row in rows:
        stored = json.dumps(row, default=str).replace(watched.service, "")
        assert watched.user_agent not in stored and "127.0.0.1" not in stored and key not in stored, stored
        assert row["ip_prefix"] == "127.0.0.0"


def assert_desktop_chrome(row: dict) -> None:
    assert (row["browser"], row["os"], row["device_type"]) == ("Chrome", "Linux", "desktop"), row


# --- posthog-js ------------------------------------------------------------------------------

def posthog_page(sdk_site, project, server, bundle: str, options: dict, path: str) -> str:
    """A page loading posthog-js: a script bundle (`array.*.js`, sets `window.posthog`) or the npm
    ES module (`module.js`, what a bundler ships, its features loaded on demand)."""
    init = f"posthog.init({json.dumps(project.key)}, {json.dumps({'api_host': server.url, **options})})"
    if bundle == "module.js":
        head = ""
        script = (f"<script type='module'>import posthog from '/posthog/module.js';"
                  f"window.posthog = posthog; {init}</script>")
    else:
        head, script = f'<script src="/posthog/{bundle}"></script>', f"<script>{init}</script>"
    return sdk_site.add(path, html("Shop", head, f'<button id="buy">Buy</button>{script}'))


def test_posthog_js_defaults_capture_pageview_autocapture_identify_alias_reset(
        watched, sdk_site, server, project, postgres):
    page = watched.page
    url = posthog_page(sdk_site, project, server, "array.full.js", {}, "/posthog-shop.html")
    with page.expect_response(lambda r: "/config.js" in r.url) as config:
        page.goto(url + "?utm_source=newsletter&utm_campaign=spring", referer="https://news.example.org/a")
    assert config.value.status == 200
    page.wait_for_function("posthog.__loaded")
    device = page.evaluate("posthog.get_distinct_id()")

    page.click("#buy")  # autocapture, on by default
    page.evaluate("posthog.capture('order_paid', {cents: 1999, currency: 'EUR'})")
    with page.expect_response(lambda r: "/flags/" in r.url) as flags:  # identify reloads the flags
        page.evaluate("posthog.identify('user-1', {email: 'u1@example.com'}, {first_plan: 'free'})")
    assert flags.value.status == 200 and flags.value.json()["flags"] == {}
    page.evaluate("posthog.alias('alias-1')")
    page.evaluate("posthog.reset()")
    page.evaluate("posthog.capture('after_reset')")
    watched.wait_sent(lambda sent: any("after_reset" in body_text(q) for q in sent if q.method == "POST"))

    rows = arrived(postgres, project, ["$pageview", "$autocapture", "order_paid", "$identify", "$alias", "after_reset"])
    by = {r["event"]: r for r in rows}
    assert len(rows) == 6, [r["event"] for r in rows]

    view = by["$pageview"]
    assert view["path"] == "/posthog-shop.html" and view["url"].startswith(url)
    assert (view["utm_source"], view["utm_campaign"]) == ("newsletter", "spring")
    assert view["referrer_host"] == "news.example.org"
    assert view["language"] == "fr" and view["timezone"] == "Europe/Paris"
    assert view["library"] == f"web/{_version('posthog-js')}"
    assert view["properties"]["title"] == "Shop"
    assert by["$autocapture"]["properties"]["$event_type"] == "click"
    assert 'text="Buy"' in by["$autocapture"]["properties"]["$elements_chain"]
    assert by["order_paid"]["properties"]["cents"] == 1999
    for row in rows:
        assert_desktop_chrome(row)
    assert_private(rows, watched, project.key)

    # One visitor until identify; identify and alias merge persons; reset starts a new visitor.
    before = [by[n] for n in ("$pageview", "$autocapture", "order_paid")]
    assert {(r["anonymous_id"], r["user_id"]) for r in before} == {(device, None)}
    assert (by["$identify"]["anonymous_id"], by["$identify"]["user_id"]) == (device, "user-1")
    # posthog-js's alias() of an identified user gives that user one more id.
    assert (by["$alias"]["anonymous_id"], by["$alias"]["user_id"]) == ("alias-1", "user-1")
    assert links_of(postgres, project.id) == {(device, "user-1"), ("alias-1", "user-1")}
    traits = traits_of(postgres, project.id, "user-1")
    assert (traits["email"], traits["first_plan"]) == ("u1@example.com", "free")
    fresh = by["after_reset"]
    assert fresh["user_id"] is None and fresh["anonymous_id"] not in (device, "user-1")
    assert len({r["session_id"] for r in before}) == 1 and fresh["session_id"] != before[0]["session_id"]

    # What posthog-js sent by default: gzip with no marker but its magic bytes, to /e/, each
    # answered with exactly 200.
    captures = watched.to("/e/")
    assert captures and all(a.status == 200 and a.json() == {"status": 1} for _, a in captures)
    assert all((q.post_data_buffer or b"")[:2] == GZIP_MAGIC for q, _ in captures)
    assert all("compression" not in parse_qs(urlsplit(q.url).query) for q, _ in captures)
    assert all(q.headers["content-type"] == "text/plain" for q, _ in captures)
    assert [a.status for _, a in watched.to("/array/" + project.key + "/config.js", "GET")] == [200]
    assert watched.errors == []

    # A retried request (posthog-js sends the same body again) is stored once.
    [(paid, _)] = [(q, a) for q, a in captures if "order_paid" in body_text(q)]
    for _ in range(2):
        again = requests.post(paid.url, data=paid.post_data_buffer, headers={"Content-Type": "text/plain"}, timeout=10)
        assert (again.status_code, again.json()) == (200, {"status": 1})
    assert len(events_of(postgres, project.id)) == 6


def test_posthog_js_json_config_uncompressed_preflight_and_beacon_on_leaving(
        watched, sdk_site, server, project, postgres):
    """The bundle without the script loader fetches the remote config as JSON; with
    `disable_compression` posthog-js posts JSON (a CORS preflight first) and sends what is queued
    when the page is left by sendBeacon, as a base64 form."""
    page = watched.page
    url = posthog_page(sdk_site, project, server, "array.full.no-external.js", {"disable_compression": True},
                       "/posthog-plain.html")
    with page.expect_response(lambda r: urlsplit(r.url).path == "/e/") as capture:
        with page.expect_response(lambda r: r.url.endswith(f"/array/{project.key}/config")) as config:
            page.goto(url)
    assert config.value.status == 200 and config.value.json()["supportedCompression"] == ["gzip-js", "base64"]
    answer = capture.value
    view = answer.request  # JSON: not a CORS-simple request, so it was preflighted
    assert view.headers["content-type"] == "application/json"
    assert [e["event"] for e in json.loads(view.post_data)["batch"]] == ["$pageview"]
    assert answer.status == 200 and answer.json() == {"status": 1}
    page.evaluate("posthog.capture('queued_1', {n: 1}); posthog.capture('queued_2', {n: 2})")
    page.goto(sdk_site.url("/next.html"))  # leaving: the queue goes out by sendBeacon

    rows = arrived(postgres, project, ["$pageview", "queued_1", "queued_2"])
    assert [r["event"] for r in rows] == ["$pageview", "queued_1", "queued_2"]
    assert [r["properties"]["n"] for r in rows[1:]] == [1, 2]
    assert len({r["anonymous_id"] for r in rows}) == 1
    for row in rows:
        assert_desktop_chrome(row)
    assert_private(rows, watched, project.key)
    assert watched.errors == []


# --- @segment/analytics-next -----------------------------------------------------------------

def test_analytics_next_settings_track_page_identify_alias_reset(watched, sdk_site, server, project, postgres):
    page = watched.page
    load = json.dumps({"writeKey": project.key, "cdnURL": server.url})
    url = sdk_site.add("/segment-shop.html", html(
        "Docs", '<script src="/segment/analytics-next.js"></script>',
        f"<script>window.analytics = AnalyticsNext.AnalyticsBrowser.load({load})</script>"))
    with page.expect_response(lambda r: r.url.endswith(f"/v1/projects/{project.key}/settings")) as settings:
        page.goto(url + "?utm_source=ads", referer="https://search.example.com/q")
    assert settings.value.status == 200
    page.wait_for_function("window.analytics.instance !== undefined")

    page.evaluate("analytics.page('Docs', 'Start', {section: 'intro'})")
    page.evaluate("analytics.track('Clicked Buy', {cents: 500})")
    page.evaluate("analytics.identify('user-9', {email: 'u9@example.com', plan: 'pro'})")
    first = page.evaluate("analytics.instance.user().anonymousId()")
    page.evaluate("analytics.reset()")
    # alias before identify names the new visitor (analytics-next writes the current user's id
    # over the alias target once a user is identified).
    page.evaluate("analytics.alias('user-10')")
    page.evaluate("analytics.track('Signed Up')")
    second = page.evaluate("analytics.instance.user().anonymousId()")
    assert first != second
    watched.wait_sent(lambda sent: sum(urlsplit(q.url).path in ("/v1/p", "/v1/t", "/v1/i", "/v1/a") for q in sent) == 5)

    rows = arrived(postgres, project, ["$pageview", "Clicked Buy", "$identify", "$alias", "Signed Up"])
    assert [r["event"] for r in rows] == ["$pageview", "Clicked Buy", "$identify", "$alias", "Signed Up"]
    view = rows[0]
    assert view["path"] == "/segment-shop.html" and view["url"].startswith(url)
    assert view["utm_source"] == "ads" and view["referrer_host"] == "search.example.com"
    assert view["properties"]["name"] == "Start" and view["properties"]["category"] == "Docs"
    assert view["properties"]["section"] == "intro"
    assert view["language"] == "fr" and view["timezone"] == "Europe/Paris"
    assert view["library"] == f"analytics.js/next-{_version('@segment/analytics-next')}"
    assert rows[1]["properties"] == {"cents": 500}
    for row in rows:
        assert_desktop_chrome(row)
    assert_private(rows, watched, project.key)

    assert [(r["anonymous_id"], r["user_id"]) for r in rows] == [
        (first, None), (first, None), (first, "user-9"), (second, "user-10"), (second, None)]
    assert links_of(postgres, project.id) == {(first, "user-9"), (second, "user-10")}
    assert traits_of(postgres, project.id, "user-9") == {"email": "u9@example.com", "plan": "pro"}

    # analytics.js posts each call to /v1/<letter> as text/plain with the write key by HTTP Basic
    # auth (so each is preflighted) and takes the answer as a success.
    key_auth = "Basic " + base64.b64encode(f"{project.key}:".encode()).decode()
    sent = {path: watched.to(path) for path in ("/v1/p", "/v1/t", "/v1/i", "/v1/a")}
    assert {path: len(calls) for path, calls in sent.items()} == {"/v1/p": 1, "/v1/t": 2, "/v1/i": 1, "/v1/a": 1}
    for calls in sent.values():
        for request, answer in calls:
            assert request.headers["content-type"] == "text/plain"
            assert request.all_headers().get("authorization") == key_auth
            assert (answer.status, answer.json()) == (200, {"success": True})
    assert watched.errors == []

    # A retried message is stored once.
    track = sent["/v1/t"][0][0]
    for _ in range(2):
        again = requests.post(track.url, data=track.post_data_buffer, timeout=10,
                              headers={"Content-Type": "text/plain", "Authorization": key_auth, "X-Retry-Count": "1"})
        assert (again.status_code, again.json()) == (200, {"success": True})
    assert len(events_of(postgres, project.id)) == 5


def test_both_sdks_on_one_page_keep_their_own_visitors(watched, sdk_site, server, project, postgres):
    """A site moving over may ship both at once: each SDK's events arrive with its own ids."""
    page = watched.page
    load = json.dumps({"writeKey": project.key, "cdnURL": server.url})
    init = json.dumps({"api_host": server.url, "autocapture": False, "capture_pageview": False})
    url = sdk_site.add("/both.html", html(
        "Both", '<script src="/posthog/array.full.js"></script><script src="/segment/analytics-next.js"></script>',
        f"<script>posthog.init({json.dumps(project.key)}, {init});"
        f"window.analytics = AnalyticsNext.AnalyticsBrowser.load({load});</script>"))
    page.goto(url)
    page.wait_for_function("posthog.__loaded && window.analytics.instance !== undefined")
    marker = str(uuid.uuid4())
    page.evaluate(f"posthog.capture('from_posthog', {{m: '{marker}'}});"
                  f"analytics.track('from_segment', {{m: '{marker}'}})")
    rows = arrived(postgres, project, ["from_posthog", "from_segment"])
    by = {r["event"]: r for r in rows}
    assert set(by) == {"from_posthog", "from_segment"}
    assert by["from_posthog"]["anonymous_id"] == page.evaluate("posthog.get_distinct_id()")
    assert by["from_segment"]["anonymous_id"] == page.evaluate("analytics.instance.user().anonymousId()")
    assert all(r["properties"]["m"] == marker for r in rows)
    assert watched.errors == []


def test_posthog_js_npm_module_newest_defaults_single_page_app(watched, sdk_site, server, project, postgres):
    """The npm build (an ES module, its features loaded on demand from the host) with the
    `defaults` PostHog's current setup sets (the newest date this release knows): views on history
    changes, and a local hostname marks the visitor as internal (a `$set`). It asks the service
    for no script the service does not serve (no page error)."""
    page = watched.page
    url = posthog_page(sdk_site, project, server, "module.js", {"defaults": "2026-08-30"}, "/app/*")
    page.goto(url + "/home")
    page.wait_for_function("window.posthog !== undefined && posthog.__loaded")
    page.evaluate("history.pushState({}, '', '/app/pricing')")
    page.evaluate("posthog.capture('viewed_plans')")
    watched.wait_sent(lambda sent: any("viewed_plans" in body_text(q) for q in sent if q.method == "POST"))
    rows = arrived(postgres, project, ["$pageview", "$pageview", "viewed_plans", "$identify"])
    views = [r for r in rows if r["event"] == "$pageview"]
    assert [v["path"] for v in views] == ["/app/home", "/app/pricing"]
    assert views[1]["properties"]["$prev_pageview_pathname"] == "/app/home"
    assert [r["path"] for r in rows if r["event"] == "viewed_plans"] == ["/app/pricing"]
    # setInternalOrTestUser(): a `$set` of the anonymous visitor, kept as theirs.
    [internal] = [r for r in rows if r["event"] == "$identify"]
    assert internal["properties"]["$set"]["$internal_or_test_user"] is True
    assert {(r["anonymous_id"], r["user_id"]) for r in rows} == {(page.evaluate("posthog.get_distinct_id()"), None)}
    assert len({r["session_id"] for r in rows}) == 1
    assert watched.errors == []


def test_sdks_own_events_the_service_does_not_define_are_no_error(watched, sdk_site, server, project, postgres):
    """posthog-js sends `$feature_flag_called` when a flag is read and `$opt_in` on opting in,
    analytics-next a `group` call: not stored, yet answered as a success (an error would only
    show in the page's console, the SDKs send them on their own)."""
    page = watched.page
    load = json.dumps({"writeKey": project.key, "cdnURL": server.url})
    init = json.dumps({"api_host": server.url, "autocapture": False})
    url = sdk_site.add("/own-events.html", html(
        "Own", '<script src="/posthog/array.full.js"></script><script src="/segment/analytics-next.js"></script>',
        f"<script>posthog.init({json.dumps(project.key)}, {init});"
        f"window.analytics = AnalyticsNext.AnalyticsBrowser.load({load});</script>"))
    with page.expect_response(lambda r: urlsplit(r.url).path == "/e/") as view:
        page.goto(url)
    assert view.value.status == 200
    page.wait_for_function("posthog.__loaded && window.analytics.instance !== undefined")
    with page.expect_response(lambda r: "/flags/" in r.url) as flags:
        page.evaluate("posthog.reloadFeatureFlags()")
    assert flags.value.status == 200
    page.wait_for_function("posthog.featureFlags.hasLoadedFlags")  # a flag read is then reported
    for call, event in (("posthog.opt_in_capturing()", "$opt_in"),
                        ("posthog.getFeatureFlag('beta')", "$feature_flag_called")):
        with page.expect_response(lambda r: urlsplit(r.url).path == "/e/") as own:
            page.evaluate(call)
        assert [e["event"] for e in json.loads(body_text(own.value.request))["batch"]] == [event]
        assert (own.value.status, own.value.json()) == (200, {"status": 1})
    with page.expect_response(lambda r: urlsplit(r.url).path == "/v1/g") as group:
        page.evaluate("analytics.group('org-1', {name: 'Org'})")
    assert (group.value.status, group.value.json()) == (200, {"success": True})
    with page.expect_response(lambda r: urlsplit(r.url).path == "/v1/t"):
        page.evaluate("analytics.track('after_group')")

    assert [r["event"] for r in events_of(postgres, project.id)] == ["$pageview", "after_group"]
    assert watched.errors == []


def test_analytics_next_batching_delivery(watched, sdk_site, server, project, postgres):
    """analytics-next's opt-in batching: several calls in one `/v1/b` request."""
    page = watched.page
    load = json.dumps({"writeKey": project.key, "cdnURL": server.url})
    options = json.dumps({"integrations": {"Segment.io": {
        "deliveryStrategy": {"strategy": "batching", "config": {"size": 3, "timeout": 60000}}}}})
    url = sdk_site.add("/segment-batching.html", html(
        "Batching", '<script src="/segment/analytics-next.js"></script>',
        f"<script>window.analytics = AnalyticsNext.AnalyticsBrowser.load({load}, {options})</script>"))
    page.goto(url)
    page.wait_for_function("window.analytics.instance !== undefined")
    with page.expect_response(lambda r: urlsplit(r.url).path == "/v1/b") as batch:
        page.evaluate("analytics.page(); analytics.track('Added', {n: 1}); analytics.identify('user-b', {tier: 'gold'})")
    assert (batch.value.status, batch.value.json()) == (200, {"success": True})
    assert len(json.loads(batch.value.request.post_data)["batch"]) == 3
    rows = arrived(postgres, project, ["$pageview", "Added", "$identify"])
    assert [r["event"] for r in rows] == ["$pageview", "Added", "$identify"]
    assert {r["anonymous_id"] for r in rows} == {page.evaluate("analytics.instance.user().anonymousId()")}
    assert rows[2]["user_id"] == "user-b" and traits_of(postgres, project.id, "user-b") == {"tier": "gold"}
    for row in rows:
        assert_desktop_chrome(row)
    assert_private(rows, watched, project.key)
    assert watched.errors == []
