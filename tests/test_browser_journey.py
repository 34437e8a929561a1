"""A visitor's journey in Chromium, end to end: the one-line tag on a test site of another origin
sends what the browser does to the live service, and the errors API and the web overview
(`kind: "web"`) show it. Expectations are computed from the events stored, by the rules the README
documents. Also cookieless and DNT in the browser, and bad input sent as a page sends it."""

from __future__ import annotations

import datetime as dt
import json
import re
from decimal import ROUND_HALF_UP, Decimal

import pytest
import requests

from browser import browser, playwright_driver, site  # noqa: F401 (fixtures)
from conftest import ADMIN, LiveServer, events_of, unique_slug, wait_for

VISIT_GAP = dt.timedelta(minutes=30)


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("journey-service"), workers=1).start()
    yield live
    live.stop()


class Project:
    """A project, its browser key and a query token, made through the admin API of the live service."""

    def __init__(self, server: LiveServer):
        self.server = server
        slug = unique_slug("journey")
        made = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug, "name": slug},
                             headers=ADMIN, timeout=10)
        assert made.status_code == 201, made.text
        self.id = made.json()["data"]["id"]
        key = requests.post(f"{server.url}/analytics/v1/projects/{self.id}/keys", json={"name": "browser"},
                            headers=ADMIN, timeout=10)
        assert key.status_code == 201, key.text
        self.key = key.json()["data"]["key"]
        token = requests.post(f"{server.url}/_admin/tokens", headers=ADMIN, timeout=10, json={
            "sub": "journey", "permissions": [f"analytics:{self.id}:query"]})
        assert token.status_code == 201, token.text
        self.query_headers = {"Authorization": f"Bearer {token.json()['data']['token']}",
                              "X-Reactor-Project": self.id}

    def admin(self, method: str, path: str, **kwargs) -> requests.Response:
        return requests.request(method, f"{self.server.url}/analytics/v1/projects/{self.id}{path}",
                                headers=ADMIN, timeout=10, **kwargs)

    def web(self, **body) -> dict:
        answer = requests.post(f"{self.server.url}/analytics/v1/query", headers=self.query_headers, timeout=30,
                               json={"kind": "web", "time_range": {"last": "1d"}, **body})
        assert answer.status_code == 200, answer.text
        return answer.json()["data"]


@pytest.fixture()
def project(server):
    return Project(server)


def tag(server, project, **options) -> str:
    attrs = "".join(f' data-{name.replace("_", "-")}="{value}"' for name, value in options.items())
    return (f'<script defer src="{server.url}/tracker.js" data-api="{server.url}" '
            f'data-key="{project.key}"{attrs}></script>')


def html(head: str, body: str = "") -> str:
    return f"<!doctype html><html><head><title>Journey</title>{head}</head><body>{body}</body></html>"


def ready(page) -> None:
    page.wait_for_function("window.reactor !== undefined")


def storage(page) -> list:
    return page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]")


def rows_when(postgres, project, done, what: str) -> list[dict]:
    """The project's events once `done(rows)` holds."""
    return wait_for(lambda: (rows := events_of(postgres, project.id)) and done(rows) and rows, timeout=20, what=what)


def named(rows, event: str) -> list[dict]:
    return [r for r in rows if r["event"] == event]


def rounded(value: float) -> float:
    return float(Decimal(repr(value)).quantize(Decimal("0.01"), rounding=ROUND_HALF_UP))


def web_expected(rows: list[dict]) -> dict:
    """The README's rules over stored events: a visit is a person's run of events without a gap of
    30 minutes; a bounce has exactly one `$pageview` and no custom event; its duration is last −
    first event (0 for a bounce)."""
    persons: dict[str, list[dict]] = {}
    for row in rows:
        persons.setdefault(row["user_id"] or row["anonymous_id"], []).append(row)
    visits = []
    for events in persons.values():
        events.sort(key=lambda r: r["ts"])
        current = [events[0]]
        for row in events[1:]:
            if row["ts"] - current[-1]["ts"] >= VISIT_GAP:
                visits.append(current)
                current = []
            current.append(row)
        visits.append(current)
    bounces, durations = 0, []
    for visit in visits:
        views = len(named(visit, "$pageview"))
        custom = [r for r in visit if not r["event"].startswith("$")]
        bounce = views == 1 and not custom
        bounces += bounce
        durations.append(0.0 if bounce else (visit[-1]["ts"] - visit[0]["ts"]).total_seconds())
    return {"visitors": len(persons), "visits": len(visits), "pageviews": len(named(rows, "$pageview")),
            "bounce_rate": rounded(100 * bounces / len(visits)), "visit_duration": rounded(sum(durations) / len(visits)),
            "bounces": bounces}


def errors_api(server, project) -> list[dict]:
    answer = requests.get(f"{server.url}/analytics/v1/errors", params={"project_id": project.id, "last": "1d"},
                          headers=ADMIN, timeout=10)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


APP_JS = "window.checkout = function checkout() { setTimeout(function () { throw new TypeError('cart is empty'); }); };\n"


def test_a_journey_is_counted_as_the_browser_lived_it(browser, site, server, project, postgres):
    assert project.admin("POST", "/sources", json={"hostname": "localhost"}).status_code == 201
    pixel = project.admin("POST", "/pixels", json={"name": "banner", "metadata": {"slot": "top"}})
    assert pixel.status_code == 201, pixel.text
    pixel = pixel.json()["data"]
    site.add("/static/app.js", APP_JS, "text/javascript")
    head = tag(server, project, hash="true", auto_errors="true") + '<script src="/static/app.js"></script>'
    shop = site.add("/shop/*", html(head, f'<img id="px" alt="" src="{server.url}{pixel["url"]}">'))
    bounce_page = site.add("/promo.html", html(head))

    # Visitor A: lands from a newsletter, navigates the SPA, hits an error twice, leaves.
    first = browser.new_context()
    page = first.new_page()
    with page.expect_response(lambda r: "/analytics/v1/pixel/" in r.url) as gif:
        page.goto(shop + "/home", referer="https://news.example.org/issue/7")
    assert gif.value.status == 200 and gif.value.headers["content-type"] == "image/gif"
    ready(page)
    page.evaluate("history.pushState({}, '', '/shop/pricing')")
    page.evaluate("location.hash = '#/faq'")
    page.wait_for_function("location.hash === '#/faq'")
    page.evaluate("window.checkout()")
    page.evaluate("window.checkout()")  # the same error again on this page: not sent again
    page.evaluate("window.reactor.track('plan_chosen', {plan: 'pro'})")
    page.evaluate("window.reactor.flush()")
    page.close(run_before_unload=True)  # closing the tab: pagehide sends the $pageleave by beacon

    # Visitor B: one page, the same bug, then the tab is closed: a bounce.
    second = browser.new_context()
    other = second.new_page()
    other.goto(bounce_page)
    ready(other)
    other.evaluate("window.checkout()")
    other.evaluate("window.reactor.flush()")
    other.close(run_before_unload=True)

    def complete(rows):
        return len(named(rows, "$pageleave")) == 4 and len(named(rows, "$error")) == 2 and \
            len(named(rows, "$pageview")) == 4 and named(rows, "$pixel_open") and named(rows, "plan_chosen")

    rows = rows_when(postgres, project, complete, "both visitors' events")
    first.close()
    second.close()
    assert len(rows) == 4 + 4 + 2 + 1 + 1, [(r["event"], r["path"]) for r in rows]
    anon_a = next(r["anonymous_id"] for r in rows if r["event"] == "plan_chosen")
    a_rows = [r for r in rows if r["anonymous_id"] == anon_a]
    views = named(a_rows, "$pageview")
    assert [v["path"] for v in views] == ["/shop/home", "/shop/pricing", "/shop/pricing#/faq"]
    assert [v["referrer_host"] for v in views] == ["news.example.org", None, None], "the referrer only once"
    leaves = named(a_rows, "$pageleave")
    assert [v["path"] for v in leaves] == ["/shop/home", "/shop/pricing", "/shop/pricing#/faq"]
    assert all(isinstance(v["properties"]["duration_ms"], int) and v["properties"]["duration_ms"] >= 0
               for v in leaves)
    assert len({r["session_id"] for r in a_rows}) == 1

    # One error group for the bug, whoever hit it and however often.
    errors = named(rows, "$error")
    assert {e["properties"]["type"] for e in errors} == {"TypeError"}
    assert errors[0]["fingerprint"] and errors[0]["fingerprint"] == errors[1]["fingerprint"]
    [group] = errors_api(server, project)
    assert group["fingerprint"] == errors[0]["fingerprint"]
    assert (group["type"], group["message"], group["count"], group["users"]) == ("TypeError", "cart is empty", 2, 2)

    # The pixel in the <img>: one $pixel_open of the loading browser's cookieless person.
    [opened] = named(rows, "$pixel_open")
    assert opened["properties"]["pixel_id"] == pixel["id"] and opened["properties"]["metadata"] == {"slot": "top"}
    assert opened["anonymous_id"].startswith("ck_") and opened["url"].startswith(site.origin)

    # The web overview: what the browsers did, by the documented rules.
    expected = web_expected(rows)
    assert (expected["visitors"], expected["visits"], expected["pageviews"], expected["bounces"]) == (3, 3, 4, 1)
    [overview] = project.web(metrics=["visitors", "visits", "pageviews", "bounce_rate", "visit_duration"])["rows"]
    for metric in ("visitors", "visits", "pageviews", "bounce_rate"):
        assert overview[metric] == expected[metric], (metric, overview, expected)
    # Durations are stored to the microsecond and may be read to the millisecond: one cent of slack.
    assert abs(overview["visit_duration"] - expected["visit_duration"]) <= 0.011, (overview, expected)
    assert overview["visit_duration"] > 0

    pages = project.web(metrics=["visitors", "visits", "pageviews"], dimension="page", limit=20)["rows"]
    by_path: dict[str, dict] = {}
    for view in named(rows, "$pageview"):
        entry = by_path.setdefault(view["path"], {"pageviews": 0, "persons": set()})
        entry["pageviews"] += 1
        entry["persons"].add(view["anonymous_id"])
    assert {r["key"]: (r["visitors"], r["visits"], r["pageviews"]) for r in pages} == {
        path: (len(e["persons"]), len(e["persons"]), e["pageviews"]) for path, e in by_path.items()}
    assert set(by_path) == {"/shop/home", "/shop/pricing", "/shop/pricing#/faq", "/promo.html"}


def test_cookieless_two_tabs_of_one_browser_are_one_visitor_and_store_nothing(browser, site, server, project,
                                                                              postgres):
    url = site.add("/cookieless-journey/*", html(tag(server, project, cookieless="true")))
    contexts = [browser.new_context(), browser.new_context()]
    try:
        for n, ctx in enumerate(contexts):
            page = ctx.new_page()
            page.goto(f"{url}/tab-{n}")
            ready(page)
            page.evaluate("history.pushState({}, '', location.pathname + '/next')")
            page.evaluate("window.reactor.flush()")
            assert storage(page) == [0, 0, ""]
        rows = rows_when(postgres, project, lambda rows: len(named(rows, "$pageview")) == 4, "four pageviews")
        for ctx in contexts:
            assert ctx.cookies() == []
            assert storage(ctx.pages[0]) == [0, 0, ""]
            state = ctx.storage_state()
            assert state["cookies"] == [] and all(not o.get("localStorage") for o in state["origins"])
    finally:
        for ctx in contexts:
            ctx.close()
    assert len({r["anonymous_id"] for r in rows}) == 1 and rows[0]["anonymous_id"].startswith("ck_")
    assert all(r["session_id"] is None for r in rows)
    [overview] = project.web(metrics=["visitors", "visits", "pageviews"])["rows"]
    assert overview["visitors"] == 1 and overview["pageviews"] == len(named(rows, "$pageview"))
    assert overview["visits"] == web_expected(rows)["visits"]


def test_do_not_track_in_the_browser_stores_nothing(browser, site, server, project, postgres):
    pixel = project.admin("POST", "/pixels", json={"name": "dnt"}).json()["data"]
    url = site.add("/dnt-journey.html", html(tag(server, project, auto_errors="true"),
                                             f'<img alt="" src="{server.url}{pixel["url"]}">'))
    ctx = browser.new_context(extra_http_headers={"DNT": "1"})
    ctx.add_init_script("Object.defineProperty(Navigator.prototype, 'doNotTrack', {get: () => '1'})")
    try:
        sent = []
        ctx.on("request", lambda r: r.url.startswith(server.url + "/analytics/v1/") and "/pixel/" not in r.url
                and sent.append(r.url))
        page = ctx.new_page()
        with page.expect_response(lambda r: "/analytics/v1/pixel/" in r.url) as gif:
            page.goto(url)
        assert gif.value.status == 200 and gif.value.headers["content-type"] == "image/gif"
        ready(page)
        page.evaluate("""() => { window.reactor.track('x'); window.reactor.identify('u_dnt');
                                 history.pushState({}, '', '/dnt-2'); window.reactor.flush(); }""")
        page.close(run_before_unload=True)
        page = ctx.new_page()
        page.goto(url)
        ready(page)
        assert storage(page) == [0, 0, ""] and ctx.cookies() == []
        assert sent == [], "the tracker sent nothing, not even when the tab was closed"
    finally:
        ctx.close()
    # The pixel's answer came after its request was handled: nothing of it was stored either.
    assert events_of(postgres, project.id) == []


def metric(server, name: str, **labels) -> float:
    """The sum of the series of `name` whose labels include `labels`."""
    text = requests.get(f"{server.url}/metrics", timeout=10).text
    wanted = {f'{k}="{v}"' for k, v in labels.items()}
    total = 0.0
    for line in text.splitlines():
        match = re.fullmatch(rf"{name}\{{([^}}]*)\}} (\S+)", line)
        if match and wanted <= set(match.group(1).split(",")):
            total += float(match.group(2))
    return total


POST_FROM_PAGE = """async ([url, body]) => {
    const answer = await fetch(url, {method: 'POST', headers: {'Content-Type': 'text/plain'},
                                     body: typeof body === 'string' ? body : JSON.stringify(body)});
    return [answer.status, await answer.text()];
}"""


def event(name: str, url: str, n: int, **properties) -> dict:
    return {"event": name, "anonymous_id": "a_bad_input", "message_id": f"bad-input-{n}",
            "properties": properties, "context": {"page": {"url": url}}}


def test_bad_input_from_a_page(browser, site, server, project, postgres):
    assert project.admin("POST", "/sources", json={"hostname": "shop.example.com"}).status_code == 201
    other = Project(server)
    foreign_pixel = other.admin("POST", "/pixels", json={"name": "theirs"}).json()["data"]
    page_url = site.add("/bad-input.html", html(tag(server, project)))
    batch = f"{server.url}/analytics/v1/batch"
    refused_before = metric(server, "reactor_analytics_events_rejected_total", reason="invalid_source")
    too_large_before = metric(server, "reactor_analytics_events_rejected_total", reason="properties_too_large")
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        statuses, tracker_answers = [], []

        def answered(response):
            if response.url.startswith(server.url + "/analytics/v1/"):
                statuses.append(response.status)
                if response.url == batch and "reactor-tracker" in (response.request.post_data or ""):
                    tracker_answers.append(response.json()["data"])

        page.on("response", answered)
        page.goto(page_url)
        ready(page)
        shop = "https://shop.example.com/cart"

        def post(body):
            status, text = page.evaluate(POST_FROM_PAGE, [batch, body])
            assert status != 500 and "Traceback" not in text, text
            return status, json.loads(text)

        # Accepted first, so that we can see nothing of it is lost by what follows.
        status, answer = post({"key": project.key, "batch": [event("$pageview", shop, 0)]})
        assert status == 200 and answer["data"]["accepted"] == 1, answer

        # A beacon with a wrong key: refused whole, with the documented error.
        status, answer = post({"key": "rapk_" + "0" * 40, "batch": [event("$pageview", shop, 1)]})
        assert status == 401 and answer["error"]["code"] == "analytics.auth.unauthenticated", answer
        refused_401 = metric(server, "reactor_http_requests_total", method="POST", status="401")
        assert page.evaluate("(args) => navigator.sendBeacon(args[0], JSON.stringify(args[1]))",
                             [batch, {"key": "rapk_" + "1" * 40, "batch": [event("$pageview", shop, 8)]}])
        wait_for(lambda: metric(server, "reactor_http_requests_total", method="POST", status="401") == refused_401 + 1,
                 what="the beacon with a wrong key answered 401")
        status, answer = post("{not json")
        assert status == 400 and answer["error"]["code"] == "analytics.invalid_json", answer

        # The tracker on this page (localhost) is not a source of the project: each event refused
        # on its own (its $pageview and this one), counted, and the rest of a batch stored.
        page.evaluate("window.reactor.track('from_here'); window.reactor.flush()")
        status, answer = post({"key": project.key, "batch": [
            event("from_elsewhere", "https://evil.example.net/", 2), event("kept", shop, 3)]})
        assert status == 200 and answer["data"]["accepted"] == 1
        assert [(r["index"], r["reason"], r["hostname"]) for r in answer["data"]["rejected"]] == [
            (0, "invalid_source", "evil.example.net")]
        # The same by sendBeacon (no answer to read: the counter tells).
        assert page.evaluate("(args) => navigator.sendBeacon(args[0], JSON.stringify(args[1]))",
                             [batch, {"key": project.key, "batch": [event("beaconed", "https://evil.example.net/", 4)]}])
        wait_for(lambda: metric(server, "reactor_analytics_events_rejected_total", reason="invalid_source")
                 == refused_before + 4, what="the refused events counted")
        # The driver hands over the responses it has seen at each call into the page; the
        # tracker's answer may come after the counter moved.
        wait_for(lambda: page.evaluate("0") == 0 and tracker_answers, what="the tracker's answer seen")
        assert all(a["accepted"] == 0 for a in tracker_answers)
        assert {(r["reason"], r["hostname"]) for answer in tracker_answers for r in answer["rejected"]} == {
            ("invalid_source", "localhost")}

        # A 200 KB stack: that event refused (properties_too_large), the rest stored.
        huge = event("$error", shop, 5, type="Error", message="huge", stack="at f (https://shop.example.com/a.js:1:1)\n" * 5000)
        assert len(json.dumps(huge)) > 200_000
        status, answer = post({"key": project.key, "batch": [huge, event("after_huge", shop, 6)]})
        assert status == 200 and answer["data"]["accepted"] == 1, answer
        assert [(r["index"], r["reason"]) for r in answer["data"]["rejected"]] == [(0, "properties_too_large")]
        assert metric(server, "reactor_analytics_events_rejected_total",
                      reason="properties_too_large") == too_large_before + 1

        # A malformed $error (stack a number, message an object): stored, grouped as a plain Error.
        status, answer = post({"key": project.key, "batch": [
            event("$error", shop, 7, type=None, message={"nested": True}, stack=42)]})
        assert status == 200 and answer["data"] == {"accepted": 1, "rejected": []}, answer

        # A pixel of another project: not this project's to see or delete; a deleted one is 404.
        assert project.admin("DELETE", f"/pixels/{foreign_pixel['id']}").status_code == 404
        assert project.admin("GET", "/pixels").json()["data"] == []
        assert other.admin("DELETE", f"/pixels/{foreign_pixel['id']}").status_code == 204
        src = server.url + foreign_pixel["url"]
        assert page.evaluate("""(src) => new Promise((done) => { const img = new Image();
                                     img.onload = () => done('loaded'); img.onerror = () => done('error');
                                     img.src = src; })""", src) == "error"
        gone = requests.get(src, timeout=10)  # what the <img> got (a page may not read it: no CORS)
        assert gone.status_code == 404 and gone.json()["error"]["code"] == "analytics.not_found", gone.text
    finally:
        ctx.close()
    assert statuses and 500 not in statuses, statuses

    rows = events_of(postgres, project.id)
    assert [(r["event"], r["message_id"]) for r in rows] == [
        ("$pageview", "bad-input-0"), ("kept", "bad-input-3"), ("after_huge", "bad-input-6"), ("$error", "bad-input-7")]
    malformed = rows[-1]
    assert malformed["fingerprint"] and len(malformed["fingerprint"]) == 32
    groups = errors_api(server, project)
    assert [(g["type"], g["count"]) for g in groups] == [("Error", 1)]
    assert events_of(postgres, other.id) == []
    assert requests.get(f"{server.url}/health", timeout=10).status_code == 200


def test_a_huge_or_malformed_error_in_the_page_is_cut_or_made_sane_by_the_tracker(browser, site, server, project,
                                                                                  postgres):
    url = site.add("/error-input.html", html(tag(server, project, auto_errors="true")))
    ctx = browser.new_context()
    try:
        page = ctx.new_page()
        answers = []
        page.on("response", lambda r: r.url == f"{server.url}/analytics/v1/batch" and answers.append(r))
        page.goto(url)
        ready(page)
        page.evaluate("""() => {
            const huge = new Error('huge');
            huge.stack = 'Error: huge\\n    at f (https://shop.example.com/a.js:1:1)\\n' + 'x'.repeat(200_000);
            window.reactor.captureException(huge);
            window.reactor.captureException({stack: 42, message: {nested: true}, name: 7});
            window.reactor.captureException('a string');
            window.reactor.captureException(null);
            window.reactor.flush();
        }""")
        rows = rows_when(postgres, project, lambda rows: len(named(rows, "$error")) == 4, "four errors")
        # The driver hands over the responses it has seen at each call into the page; the rows
        # may be stored before the page has its answer.
        wait_for(lambda: page.evaluate("0") == 0 and answers, what="the tracker's answer seen")
        assert all(a.status == 200 and a.json()["data"]["rejected"] == [] for a in answers)
    finally:
        ctx.close()
    errors = [e["properties"] for e in named(rows, "$error")]
    assert errors[0]["message"] == "huge" and errors[0]["stack"].startswith("Error: huge")
    assert 4000 <= len(errors[0]["stack"]) <= 4096, "the stack is cut at 4 KB"
    assert [(e["type"], e["message"], e["stack"]) for e in errors[1:]] == [
        ("7", "[object Object]", "42"), ("Error", "a string", ""), ("Error", "null", "")]
    assert all(e["fingerprint"] and len(e["fingerprint"]) == 32 for e in named(rows, "$error"))
    groups = errors_api(server, project)
    assert sorted(g["count"] for g in groups) == [1, 1, 1, 1]
