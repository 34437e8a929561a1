"""The browser SDK in Chromium against the real service: a test site on another origin loads
/tracker.js (or imports /analytics/v1/sdk.js) from `reactor serve`, and what arrived is read from
PostgreSQL."""

from __future__ import annotations

import json
import time

import jwt

import pytest
import requests

from browser import browser, context, page, playwright_driver, site  # noqa: F401 (fixtures)
from conftest import ADMIN, JWT_SECRET, LiveServer, events_of, unique_slug, wait_for


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("browser-service"), workers=1).start()
    yield live
    live.stop()


class Project:
    """A project and its browser key, made through the admin API of the live service."""

    def __init__(self, server: LiveServer):
        slug = unique_slug("web")
        made = requests.post(f"{server.url}/analytics/v1/projects", json={"slug": slug, "name": slug},
                             headers=ADMIN, timeout=10)
        assert made.status_code == 201, made.text
        self.id = made.json()["data"]["id"]
        key = requests.post(f"{server.url}/analytics/v1/projects/{self.id}/keys", json={"name": "browser"},
                            headers=ADMIN, timeout=10)
        assert key.status_code == 201, key.text
        self.key = key.json()["data"]["key"]


@pytest.fixture()
def project(server):
    return Project(server)


def tag(server, project, **options) -> str:
    attrs = "".join(f' data-{name.replace("_", "-")}="{value}"' for name, value in options.items())
    return (f'<script defer src="{server.url}/tracker.js" data-api="{server.url}" '
            f'data-key="{project.key}"{attrs}></script>')


def html(head: str, body: str = "") -> str:
    return f"<!doctype html><html><head><title>Test page</title>{head}</head><body>{body}</body></html>"


def events(postgres, project, count: int, what: str = "") -> list[dict]:
    """The project's events once at least `count` arrived."""
    return wait_for(lambda: (rows := events_of(postgres, project.id)) and len(rows) >= count and rows,
                    timeout=20, what=what or f"{count} events")


def ready(page) -> None:
    page.wait_for_function("window.reactor !== undefined")


def flush(page) -> None:
    page.evaluate("window.reactor.flush()")


def test_served_with_long_cache_etag_and_cors(server):
    for path, media in [("/tracker.js", "text/javascript"), ("/analytics/v1/sdk.js", "text/javascript"),
                        ("/analytics/v1/sdk.d.ts", "application/typescript")]:
        answer = requests.get(server.url + path, timeout=10)
        assert answer.status_code == 200, (path, answer.text[:200])
        assert answer.headers["Content-Type"].startswith(media)
        assert answer.headers["Cache-Control"] == "public, max-age=31536000, immutable"
        assert answer.headers["Access-Control-Allow-Origin"] == "*"
        etag = answer.headers["ETag"]
        assert etag.startswith('"') and not etag.startswith("W/")
        again = requests.get(server.url + path, headers={"If-None-Match": etag}, timeout=10)
        assert again.status_code == 304 and again.content == b""
        assert again.headers["ETag"] == etag
        other = requests.get(server.url + path, headers={"If-None-Match": '"other"'}, timeout=10)
        assert other.status_code == 200 and other.content == answer.content


def test_pageview_on_load_with_page_utm_locale_timezone_session(page, site, server, project, postgres):
    url = site.add("/landing.html", html(tag(server, project)))
    page.goto(url + "?utm_source=newsletter&utm_campaign=spring", referer="https://news.example.org/item/1")
    ready(page)
    flush(page)
    [view] = events(postgres, project, 1)
    assert view["event"] == "$pageview"
    assert view["path"] == "/landing.html"
    assert view["url"].startswith(url + "?utm_source=newsletter")
    assert view["referrer_host"] == "news.example.org"
    assert view["utm_source"] == "newsletter" and view["utm_campaign"] == "spring"
    assert view["context"]["page"]["title"] == "Test page"
    assert view["timezone"] == page.evaluate("Intl.DateTimeFormat().resolvedOptions().timeZone")
    assert view["language"] and "Chrome" in view["browser"]
    anon = page.evaluate("localStorage.getItem('reactor_anon_id')")
    assert view["anonymous_id"] == anon
    assert view["session_id"] and view["session_id"] == page.evaluate(
        "localStorage.getItem('reactor_session').split(' ')[0]")


def test_spa_navigation_pushstate_popstate_and_hash(page, site, server, project, postgres):
    url = site.add("/app/*", html(tag(server, project, hash="true")))
    page.goto(url + "/home", referer="https://ref.example.com/")
    ready(page)
    page.evaluate("history.pushState({}, '', '/app/pricing')")
    page.evaluate("history.pushState({}, '', '/app/pricing?tab=2')")  # same path: no new view
    page.evaluate("location.hash = '#/settings'")
    page.wait_for_function("location.hash === '#/settings'")
    page.go_back()  # popstate back to /app/pricing?tab=2
    page.wait_for_function("location.hash === ''")
    flush(page)
    rows = events(postgres, project, 6)
    views = [r for r in rows if r["event"] == "$pageview"]
    assert [v["path"] for v in views] == ["/app/home", "/app/pricing", "/app/pricing#/settings", "/app/pricing"]
    assert [v["referrer_host"] for v in views] == ["ref.example.com", None, None, None]
    assert all("referrer" not in v["context"]["page"] for v in views[1:])
    leaves = [r for r in rows if r["event"] == "$pageleave"]
    assert [v["path"] for v in leaves] == ["/app/home", "/app/pricing", "/app/pricing#/settings"]
    assert len({v["session_id"] for v in rows}) == 1


def test_pageleave_counts_visible_time_only(page, site, server, project, postgres):
    """Time is Playwright's clock; the tab's visibility is switched as a browser does it."""
    url = site.add("/leave.html", html(tag(server, project)))
    page.clock.install()
    page.goto(url)
    ready(page)
    page.clock.run_for(4000)  # visible
    set_hidden(page, True)
    page.clock.run_for(600_000)  # hidden ten minutes: not counted
    set_hidden(page, False)
    page.clock.run_for(2500)
    page.evaluate("history.pushState({}, '', '/next')")
    flush(page)
    rows = events(postgres, project, 3)
    [leave] = [r for r in rows if r["event"] == "$pageleave"]
    assert leave["path"] == "/leave.html"
    assert 6500 <= leave["properties"]["duration_ms"] < 7500


def set_hidden(page, hidden: bool) -> None:
    state = "hidden" if hidden else "visible"
    page.evaluate(f"""() => {{
        Object.defineProperty(document, 'hidden', {{value: {str(hidden).lower()}, configurable: true}});
        Object.defineProperty(document, 'visibilityState', {{value: '{state}', configurable: true}});
        document.dispatchEvent(new Event('visibilitychange'));
    }}""")


def test_closing_the_tab_sends_pageleave_by_beacon(context, site, server, project, postgres):
    url = site.add("/close.html", html(tag(server, project)))
    page = context.new_page()
    page.goto(url)
    ready(page)
    page.evaluate("window.reactor.track('clicked', {button: 'buy'})")  # queued, not yet sent
    page.close(run_before_unload=True)  # closes the tab as a person does: pagehide runs
    rows = events(postgres, project, 3, "pageview, clicked and pageleave")
    assert sorted(r["event"] for r in rows) == ["$pageleave", "$pageview", "clicked"]
    leave = next(r for r in rows if r["event"] == "$pageleave")
    assert leave["path"] == "/close.html"
    assert isinstance(leave["properties"]["duration_ms"], int) and leave["properties"]["duration_ms"] >= 0


def test_beacon_body_is_text_plain_without_preflight(page, site, server, project, postgres):
    url = site.add("/beacon.html", html(tag(server, project)))
    seen = []
    page.on("request", lambda r: r.url.startswith(server.url + "/analytics/v1/") and seen.append(r))
    page.goto(url)
    ready(page)
    page.evaluate("window.reactor.track('before_hide')")
    set_hidden(page, True)
    events(postgres, project, 2)
    posts = [r for r in seen if r.method == "POST"]
    assert posts and all(r.headers.get("content-type", "").startswith("text/plain") for r in posts)
    assert not [r for r in seen if r.method == "OPTIONS"]
    assert any(r.resource_type == "ping" for r in posts), "the hidden page's queue leaves by sendBeacon"
    readable = [json.loads(r.post_data) for r in posts if r.post_data]  # a beacon's body is not shown
    assert all(body["key"] == project.key and body["batch"] for body in readable)


def test_a_failed_batch_is_sent_again_with_the_same_message_ids(page, site, server, project, postgres):
    attempts = []

    def answer(route):
        attempts.append(json.loads(route.request.post_data))
        if len(attempts) == 1:
            route.fulfill(status=503, content_type="application/json",
                          body='{"error": {"code": "analytics.unavailable", "message": "retry"}}')
        else:
            route.continue_()

    page.route(server.url + "/analytics/v1/batch", answer)
    url = site.add("/retry.html", html(tag(server, project)))
    page.goto(url)
    ready(page)
    page.evaluate("window.reactor.track('kept')")
    flush(page)  # answered 503: queued again
    flush(page)
    rows = events(postgres, project, 2)
    first = [e["message_id"] for e in attempts[0]["batch"]]
    assert [e["message_id"] for e in attempts[1]["batch"]][:len(first)] == first
    assert set(first) <= {r["message_id"] for r in rows}
    assert [r["event"] for r in rows] == ["$pageview", "kept"]  # each once


def test_identify_alias_reset(page, site, server, project, postgres):
    url = site.add("/who.html", html(tag(server, project)))
    page.goto(url)
    ready(page)
    first_anon = page.evaluate("localStorage.getItem('reactor_anon_id')")
    page.evaluate("window.reactor.identify('u_42', {plan: 'pro'})")
    page.evaluate("window.reactor.track('as_user')")
    page.evaluate("window.reactor.alias('u_42_new')")
    page.evaluate("window.reactor.reset()")
    page.evaluate("window.reactor.track('after_reset')")
    flush(page)
    rows = events(postgres, project, 5)
    by_name = {r["event"]: r for r in rows}
    assert by_name["$identify"]["user_id"] == "u_42" and by_name["$identify"]["anonymous_id"] == first_anon
    assert by_name["as_user"]["user_id"] == "u_42"
    assert by_name["$alias"]["anonymous_id"] == "u_42" and by_name["$alias"]["user_id"] == "u_42_new"
    after = by_name["after_reset"]
    assert after["user_id"] is None and after["anonymous_id"] not in (None, first_anon)
    assert after["session_id"] != by_name["as_user"]["session_id"]
    import psycopg

    with psycopg.connect(postgres.url) as conn:
        links = conn.execute("SELECT anonymous_id, user_id FROM identity_links WHERE project_id = %s",
                             (project.id,)).fetchall()
    assert (first_anon, "u_42") in links


def test_opt_out_sends_nothing_and_is_remembered(page, site, server, project, postgres):
    url = site.add("/optout.html", html(tag(server, project)))
    page.goto(url)
    ready(page)
    flush(page)
    events(postgres, project, 1)
    page.evaluate("window.reactor.optOut()")
    page.evaluate("window.reactor.track('while_opted_out')")
    page.reload()
    ready(page)
    page.evaluate("history.pushState({}, '', '/elsewhere')")
    flush(page)
    page.evaluate("window.reactor.optIn()")
    page.evaluate("window.reactor.track('after_opt_in')")
    flush(page)
    rows = events(postgres, project, 2)
    assert [r["event"] for r in rows] == ["$pageview", "after_opt_in"]


@pytest.mark.parametrize("signal", ["doNotTrack", "globalPrivacyControl"])
def test_dnt_and_gpc_send_and_store_nothing(page, site, server, project, postgres, signal):
    value = "'1'" if signal == "doNotTrack" else "true"
    page.add_init_script(f"Object.defineProperty(Navigator.prototype, '{signal}', {{get: () => {value}}})")
    url = site.add(f"/dnt-{signal}.html", html(tag(server, project, auto_errors="true")))
    sent = []
    page.on("request", lambda r: r.url.startswith(server.url + "/analytics/") and sent.append(r))
    page.goto(url)
    ready(page)
    page.evaluate("""() => { window.reactor.track('x'); window.reactor.identify('u');
                             window.analytics.event('y', {}); history.pushState({}, '', '/z'); }""")
    flush(page)
    page.goto("about:blank")
    assert sent == []
    page.goto(url)
    ready(page)
    assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert events_of(postgres, project.id) == []


def test_data_exclude(page, site, server, project, postgres):
    url = site.add("/ex/*", html(tag(server, project, exclude="/ex/admin/*,/ex/preview")))
    page.goto(url + "/admin/users")
    ready(page)
    page.evaluate("history.pushState({}, '', '/ex/preview')")
    page.evaluate("history.pushState({}, '', '/ex/ok')")
    page.evaluate("history.pushState({}, '', '/ex/admin/users/5')")  # deeper than *: counted
    flush(page)
    rows = events(postgres, project, 3)
    assert [(r["event"], r["path"]) for r in rows] == [
        ("$pageview", "/ex/ok"), ("$pageleave", "/ex/ok"), ("$pageview", "/ex/admin/users/5")]


def test_cookieless_writes_no_storage(context, page, site, server, project, postgres):
    url = site.add("/cookieless.html", html(tag(server, project, cookieless="true")))
    page.goto(url)
    ready(page)
    page.evaluate("window.reactor.track('clicked')")
    page.evaluate("history.pushState({}, '', '/cookieless-2')")
    flush(page)
    assert page.evaluate("[localStorage.length, sessionStorage.length, document.cookie]") == [0, 0, ""]
    assert context.cookies() == []
    rows = events(postgres, project, 4)
    assert {r["anonymous_id"] for r in rows} and all(r["session_id"] is None for r in rows)
    assert len({r["anonymous_id"] for r in rows}) == 1, "one browser, one derived person"
    assert all(r["anonymous_id"].startswith("ck_") for r in rows)


def test_auto_errors_and_capture_exception(page, site, server, project, postgres):
    body = """<script>
      window.boom = () => setTimeout(() => { throw new TypeError('boom ' + 'thrown') });
      window.reject = () => Promise.reject(new RangeError('rejected'));
    </script>"""
    url = site.add("/errors.html", html(tag(server, project, auto_errors="true"), body))
    page.goto(url)
    ready(page)
    page.evaluate("window.boom()")
    page.evaluate("window.boom()")  # the same error again: dropped
    page.evaluate("() => { window.reject(); }")
    page.evaluate("window.analytics.captureException(new Error('handled'), {release: '1.2'})")
    page.evaluate("for (let i = 0; i < 40; i++) window.analytics.captureException(new Error('many ' + i))")
    page.evaluate("window.analytics.event('custom_event', {n: 1})")
    page.wait_for_timeout(100)
    flush(page)
    rows = events(postgres, project, 27)
    errors = [r for r in rows if r["event"] == "$error"]
    assert len(errors) == 25
    thrown, rejected, handled = (e["properties"] for e in errors[:3])
    assert thrown["type"] == "TypeError" and thrown["message"] == "boom thrown"
    assert thrown["source"].endswith("/errors.html") and thrown["lineno"] > 0 and thrown["colno"] > 0
    assert "boom" in thrown["stack"] and thrown["handled"] is False
    assert rejected["type"] == "RangeError" and rejected["message"] == "rejected"
    assert handled["message"] == "handled" and handled["release"] == "1.2" and handled["handled"] is True
    assert [e["properties"]["message"] for e in errors[3:]] == [f"many {i}" for i in range(22)]
    assert any(r["event"] == "custom_event" and r["properties"] == {"n": 1} for r in rows)


def test_es_module_create_client(page, site, server, project, postgres):
    token = jwt.encode({"sub": "u_module", "exp": int(time.time()) + 600,
                        "permissions": [f"analytics:{project.id}:query", f"analytics:{project.id}:erase"]},
                       JWT_SECRET, algorithm="HS256")
    script = f"""<script type="module">
      import {{ createClient }} from "{server.url}/analytics/v1/sdk.js";
      const reactor = createClient({{ url: "{server.url}", key: "{project.key}", token: "{token}",
        analytics: {{ enabled: true, autoPageview: true, autoIdentify: true, autoErrors: true }} }});
      reactor.analytics.track("signup_completed", {{ plan: "pro" }});
      await reactor.analytics.flush();
      window.reactorClient = reactor;
      window.done = true;
    </script>"""
    url = site.add("/module.html", html(script))
    page.goto(url)
    page.wait_for_function("window.done === true")
    rows = events(postgres, project, 3)
    assert [r["event"] for r in rows] == ["$pageview", "$identify", "signup_completed"]
    assert rows[2]["properties"] == {"plan": "pro"} and rows[2]["library"].startswith("reactor-sdk")
    assert rows[1]["user_id"] == "u_module"
    # query and erase from the page's origin, with the JWT as bearer (CORS preflight included)
    answer = page.evaluate(f"""() => window.reactorClient.analytics.query({{
        projectId: "{project.id}", kind: "aggregate", timeRange: {{ last: "1d" }},
        filter: {{ event: {{ eq: "signup_completed" }} }} }})""")
    assert answer["kind"] == "aggregate" and answer["rows"][0]["value"] == 1
    refused = page.evaluate(f"""() => window.reactorClient.analytics.query({{ projectId: "{project.id}",
        kind: "nonsense" }}).then(() => null, (e) => [e.name, e.status, e.code])""")
    assert refused[0] == "ReactorError" and refused[1] == 400 and refused[2].startswith("analytics.")
    erased = page.evaluate(f"""() => window.reactorClient.analytics.erase({{ projectId: "{project.id}",
        userId: "u_module" }})""")
    assert erased["events"] >= 1


def test_missing_build_answers_503_json(client, monkeypatch, tmp_path):
    from reactor_analytics.api import browser_sdk

    monkeypatch.setattr(browser_sdk, "STATIC_DIR", tmp_path)
    for path in ("/tracker.js", "/analytics/v1/sdk.js", "/analytics/v1/sdk.d.ts"):
        answer = client.get(path)
        assert answer.status_code == 503
        assert answer.get_json()["error"]["code"] == "analytics.unavailable"
        assert "make" in answer.get_json()["error"]["message"]


def test_a_rebuild_is_served_with_a_new_etag(client, monkeypatch, tmp_path):
    from reactor_analytics.api import browser_sdk

    monkeypatch.setattr(browser_sdk, "STATIC_DIR", tmp_path)
    (tmp_path / "tracker.js").write_text("/* one */")
    first = client.get("/tracker.js")
    (tmp_path / "tracker.js").write_text("/* two, longer */")
    second = client.get("/tracker.js")
    assert first.data == b"/* one */" and second.data == b"/* two, longer */"
    assert first.headers["ETag"] != second.headers["ETag"]


@pytest.mark.parametrize("path", ["/analytics/v1/query", "/analytics/v1/erase"])
def test_query_and_erase_answer_other_origins(client, path):
    """sdk.js calls them from the page's origin with a bearer token: the preflight is answered."""
    preflight = client.options(path, headers={"Origin": "http://localhost:1", "Access-Control-Request-Method": "POST",
                                              "Access-Control-Request-Headers": "authorization, content-type"})
    assert preflight.status_code in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "*"
    allowed = preflight.headers["Access-Control-Allow-Headers"].lower()
    assert "authorization" in allowed and "x-reactor-project" in allowed
    refused = client.post(path, json={}, headers={"Origin": "http://localhost:1"})
    assert refused.status_code == 401 and refused.headers["Access-Control-Allow-Origin"] == "*"
