"""The dashboard in Debian's Chromium against `reactor serve` under gunicorn, with data sent through
the ingest API: sign-in, every page, a filter by clicking a row, a funnel, error triage, a CSV
download, a shared link opened signed out, sign-out, an expired or absent session. What the page
shows is compared with `/analytics/v1/query` (or the errors API) answering the same bodies, sent
with the admin token.

Every page is photographed into `.cache/screenshots/dashboard/` (git-ignored; light and dark, and
the web overview at phone width too) for a person to look at.
"""

from __future__ import annotations

import csv
import hashlib
import io
import json
import os
import random
import re
from datetime import datetime, timedelta, timezone
from pathlib import Path

import psycopg
import pytest
import requests

from browser import browser, playwright_driver  # noqa: F401 (fixtures)
from conftest import ADMIN, LiveServer, unique_slug

ROOT = Path(__file__).resolve().parent.parent
SHOTS = Path(os.environ.get("REACTOR_SCREENSHOTS", ROOT / ".cache" / "screenshots" / "dashboard"))
BUILT = ROOT / "python" / "reactor_analytics" / "static" / "dashboard" / "index.html"
TILES = ["visitors", "visits", "pageviews", "views_per_visit", "bounce_rate", "visit_duration"]
DESKTOP = {"width": 1360, "height": 900}
PHONE = {"width": 390, "height": 844}

pytestmark = pytest.mark.skipif(not BUILT.is_file(), reason="the dashboard is not built (make dashboard)")

AGENTS = [
    "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/120.0.0.0 Safari/537.36",
    "Mozilla/5.0 (iPhone; CPU iPhone OS 17_1 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.1 "
    "Mobile/15E148 Safari/604.1",
    "Mozilla/5.0 (X11; Linux x86_64; rv:121.0) Gecko/20100101 Firefox/121.0",
]
REFERRERS = [None, None, "https://www.google.com/", "https://google.com/search", "https://news.ycombinator.com/",
             "https://twitter.com/x"]
PAGES = ["/", "/pricing", "/docs", "/blog", "/signup"]
LOCALES = [("en-US", "America/New_York"), ("de-DE", "Europe/Berlin"), ("fr-FR", "Europe/Paris"), ("en-GB", "Europe/London")]
STACK = ("TypeError: Cannot read properties of undefined (reading 'id')\n"
         "    at renderCart (https://shop.example.com/assets/app-3f9a1c.js:12:345)\n"
         "    at onClick (https://shop.example.com/assets/app-3f9a1c.js:40:12)")


def post(server: LiveServer, path: str, body: dict, **headers) -> requests.Response:
    return requests.post(server.url + path, json=body, headers={**ADMIN, **headers}, timeout=30)


def ask(server: LiveServer, body: dict) -> dict:
    """The query answer for `body`, sent with the admin token."""
    answer = post(server, "/analytics/v1/query", body)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def visits(rng: random.Random, now: datetime, visitors: int, prefix: str) -> list[dict]:
    events = []
    for v in range(visitors):
        anon = f"{prefix}-{v:03d}"
        agent, (locale, tz) = rng.choice(AGENTS), rng.choice(LOCALES)
        # Most visitors came in the last six days, a few today, one two minutes ago (realtime), whose
        # events are all in the past.
        start = now - (timedelta(minutes=2) if v == 0 else timedelta(minutes=rng.randint(20, 6 * 24 * 60)))
        referrer = rng.choice(REFERRERS)
        utm = rng.choice([None, None, None, "newsletter"])
        t = start
        for i in range(rng.choice([1, 1, 2, 3, 4])):
            path = PAGES[0] if i == 0 and rng.random() < 0.5 else rng.choice(PAGES)
            page = {"path": path, "url": f"https://shop.example.com{path}" + (f"?utm_source={utm}" if utm and i == 0 else ""),
                    "title": path}
            if i == 0 and referrer:
                page["referrer"] = referrer
            events.append({"event": "$pageview", "anonymous_id": anon, "timestamp": t.isoformat(),
                           "context": {"page": page, "userAgent": agent, "locale": locale, "timezone": tz}})
            t += timedelta(seconds=rng.randint(5, 200) if v else 5)
        if v % 4 == 0 and start < now - timedelta(days=2):
            # Comes back a day later.
            back = start + timedelta(days=1, minutes=rng.randint(0, 120))
            events.append({"event": "$pageview", "anonymous_id": anon, "timestamp": back.isoformat(),
                           "context": {"page": {"path": "/docs", "url": "https://shop.example.com/docs"},
                                       "userAgent": agent, "locale": locale, "timezone": tz}})
        if v % 3 == 0:
            events.append({"event": "signup", "anonymous_id": anon, "timestamp": t.isoformat(), "properties": {"plan": "pro" if v % 2 else "free"}})
            t += timedelta(seconds=30)
            if v % 6 == 0:
                events.append({"event": "purchase", "anonymous_id": anon, "timestamp": t.isoformat(), "properties": {"amount": 10 + v}})
        if v % 7 == 0:
            events.append({"event": "$error", "anonymous_id": anon, "timestamp": (t + timedelta(seconds=3)).isoformat(),
                           "properties": {"type": "TypeError", "message": "Cannot read properties of undefined (reading 'id')",
                                          "stack": STACK}})
        if v % 11 == 0:
            events.append({"event": "$error", "anonymous_id": anon, "timestamp": (t + timedelta(seconds=4)).isoformat(),
                           "properties": {"type": "NetworkError", "message": "Failed to fetch /api/cart",
                                          "stack": "NetworkError: Failed to fetch /api/cart\n    at load (https://shop.example.com/cart.js:2:9)"}})
    return events


class Seed:
    def __init__(self, server: LiveServer):
        now = datetime.now(timezone.utc)
        self.shop = self._project(server, unique_slug("shop"), "Shop")
        self.blog = self._project(server, unique_slug("blog"), "Blog")
        for project, count, seed in ((self.shop, 90, 1), (self.blog, 12, 2)):
            events = visits(random.Random(seed), now, count, project)
            for i in range(0, len(events), 100):
                answer = post(server, "/analytics/v1/batch", {"batch": events[i:i + 100]}, **{"X-Reactor-Project": project})
                assert answer.status_code == 200 and not answer.json()["data"]["rejected"], answer.text

    @staticmethod
    def _project(server: LiveServer, slug: str, name: str) -> str:
        made = post(server, "/analytics/v1/projects", {"slug": slug, "name": f"{name} {slug[-4:]}"})
        assert made.status_code == 201, made.text
        return slug


@pytest.fixture(scope="module")
def server(postgres, tmp_path_factory):
    live = LiveServer(postgres, tmp_path_factory.mktemp("dashboard-service"), workers=2).start()
    yield live
    live.stop()


@pytest.fixture(scope="module")
def seed(server):
    return Seed(server)


def sign_in(page, server: LiveServer, token: str = ADMIN["Authorization"].split()[1]) -> None:
    page.goto(server.url + "/")
    page.fill("input[name=token]", token)
    page.click("button[type=submit]")
    page.wait_for_selector("nav.nav a[data-page]")


@pytest.fixture(scope="module")
def session(browser, server, seed):
    """One signed-in browser context for the module (its cookie), downloads allowed."""
    context = browser.new_context(viewport=DESKTOP, accept_downloads=True)
    page = context.new_page()
    sign_in(page, server)
    page.close()
    yield context
    context.close()


class Recorder:
    """The query bodies a page sends."""

    def __init__(self, page):
        self.bodies: list[dict] = []
        page.on("request", self._seen)

    def _seen(self, request) -> None:
        if request.method == "POST" and request.url.endswith("/analytics/v1/query"):
            self.bodies.append(json.loads(request.post_data))

    def find(self, **match) -> dict:
        found = [b for b in self.bodies if all(b.get(k) == v for k, v in match.items())]
        assert found, f"no query with {match} among {self.bodies}"
        return found[-1]


def tiles_body(recorder: Recorder) -> dict:
    return next(b for b in reversed(recorder.bodies) if b["kind"] == "web" and "dimension" not in b and "time_bucket" not in b)


def open_web(page, server, project: str, extra: str = "") -> Recorder:
    recorder = Recorder(page)
    page.goto(f"{server.url}/#/web?project={project}&range=7d{extra}")
    page.wait_for_selector("[data-tiles][data-ready=true]")
    return recorder


def assert_tiles_match(page, server, body: dict) -> dict:
    data = ask(server, body)
    row, before = data["rows"][0], data["comparison"][0]
    for metric in TILES:
        shown = page.locator(f"[data-metric={metric}]").text_content()
        assert float(shown) == pytest.approx(row[metric]), (metric, shown, row)
    return {"row": row, "before": before}


def shot(page, name: str, *, dark: bool = False, full: bool = True) -> None:
    SHOTS.mkdir(parents=True, exist_ok=True)
    page.emulate_media(color_scheme="dark" if dark else "light")
    page.evaluate("() => window.scrollTo(0, 0)")
    page.wait_for_timeout(150)  # the chart redraws with the theme's colours
    page.screenshot(path=str(SHOTS / f"{name}-{'dark' if dark else 'light'}.png"), full_page=full)


def shots(page, name: str) -> None:
    shot(page, name)
    shot(page, name, dark=True)
    page.emulate_media(color_scheme="light")


# -- sign-in and the session ---------------------------------------------------------------------

def test_sign_in_with_a_wrong_then_the_admin_token(browser, server, seed):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    page.goto(server.url + "/")
    page.wait_for_selector("input[name=token]")
    shots(page, "signin")
    page.fill("input[name=token]", "not-a-token")
    page.click("button[type=submit]")
    page.wait_for_selector(".error-box:not([hidden])")
    assert "not accepted" in page.text_content(".error-box")
    sign_in(page, server)
    # Signed in, the page is a project's web overview.
    page.wait_for_selector("[data-tiles][data-ready=true]")
    assert page.locator("select[name=project]").input_value()
    cookie = next(c for c in context.cookies() if c["name"] == "reactor_session")
    assert cookie["httpOnly"] and cookie["sameSite"] == "Lax"
    # Nothing of the token in the browser's storage or the URL.
    stored = page.evaluate("JSON.stringify({...localStorage}) + JSON.stringify({...sessionStorage}) + location.href")
    assert "test-admin-token" not in stored
    context.close()


def test_an_absent_or_expired_session_goes_back_to_sign_in(browser, server, seed, postgres):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, server)
    page.goto(f"{server.url}/#/web?project={seed.shop}&range=7d")
    page.wait_for_selector("[data-tiles][data-ready=true]")
    # Expired: the session row's end has passed; the next query answers 401 and the page signs in again.
    cookie = next(c["value"] for c in context.cookies() if c["name"] == "reactor_session")
    with psycopg.connect(postgres.url) as conn:
        ended = conn.execute("UPDATE dashboard_sessions SET expires_at = now() - interval '1 minute' WHERE id_hash = %s",
                             (hashlib.sha256(cookie.encode()).digest(),)).rowcount
    assert ended == 1
    page.click("button[data-range='30d']")
    page.wait_for_selector("input[name=token]")
    assert "session has ended" in page.text_content("main")
    # Absent: no cookie at all.
    sign_in(page, server)
    context.clear_cookies()
    page.reload()
    page.wait_for_selector("input[name=token]")
    context.close()


def test_sign_out(browser, server, seed):
    context = browser.new_context(viewport=DESKTOP)
    page = context.new_page()
    sign_in(page, server)
    cookies = {c["name"]: c["value"] for c in context.cookies()}
    page.click("[data-signout]")
    page.wait_for_selector("input[name=token]")
    assert "signed out" in page.text_content("main")
    assert not [c for c in context.cookies() if c["name"] == "reactor_session"]
    # The old cookie is worth nothing now.
    again = requests.get(server.url + "/dashboard/api/session", cookies=cookies, timeout=10)
    assert again.status_code == 401
    page.reload()
    page.wait_for_selector("input[name=token]")
    context.close()


# -- the web overview ----------------------------------------------------------------------------

def test_web_overview_shows_the_query_answers(session, server, seed):
    page = session.new_page()
    recorder = open_web(page, server, seed.shop)
    body = tiles_body(recorder)
    assert body["compare"] == "previous_period" and body["project_id"] == seed.shop and "filter" not in body
    answer = assert_tiles_match(page, server, body)
    assert answer["row"]["visitors"] > 0
    # The change against the previous period, as the page computes it from the same answer.
    prev = answer["before"]["visitors"]
    change = page.locator("[data-tile=visitors] [data-change]").get_attribute("data-change")
    assert change == "" if prev == 0 else float(change) == pytest.approx(
        round((answer["row"]["visitors"] - prev) / prev * 1000) / 10)
    # The time series: daily buckets with the comparison.
    series = recorder.find(kind="web", time_bucket="1d")
    assert series["compare"] == "previous_period"
    page.wait_for_selector(".chart canvas")
    # Each panel's first tab: the rows on screen are the answer's.
    page.wait_for_selector(".panel-sources table.data")
    for dimension in ("page", "source", "browser", "country"):
        rows = ask(server, recorder.find(kind="web", dimension=dimension))["rows"]
        panel = page.locator(f"section.panel:has(button[data-tab={dimension}][aria-selected=true])")
        keys = panel.locator("tbody th").all_text_contents()
        assert keys == [r["key"] for r in rows], (dimension, keys, rows)
    # Realtime visitors: the one who came a minute ago.
    realtime = ask(server, recorder.find(kind="realtime"))["rows"][0]["visitors"]
    page.locator("[data-realtime-visitors]", has_text=re.compile(r"^\d+$")).wait_for()
    assert page.text_content("[data-realtime-visitors]") == str(realtime)
    # Other tabs of a panel run their own dimension.
    page.click("button[data-tab=utm_source]")
    page.wait_for_selector("section.panel-sources table.data, section.panel-sources .empty")
    rows = ask(server, recorder.find(kind="web", dimension="utm_source"))["rows"]
    assert page.locator("section.panel-sources tbody th").all_text_contents() == [r["key"] for r in rows]
    page.click("button[data-tab=source]")
    page.wait_for_selector("section.panel-sources table.data")
    # Tabs move with the arrow keys, and take the focus with them.
    page.focus("button[data-tab=page]")
    page.keyboard.press("ArrowRight")
    page.wait_for_selector("button[data-tab=entry_page][aria-selected=true]:focus")
    rows = ask(server, recorder.find(kind="web", dimension="entry_page"))["rows"]
    page.wait_for_selector("section.panel-pages table.data")
    assert page.locator("section.panel-pages tbody th").all_text_contents() == [r["key"] for r in rows]
    page.keyboard.press("ArrowLeft")
    page.wait_for_selector("button[data-tab=page][aria-selected=true]:focus")
    page.wait_for_selector("section.panel-pages table.data")
    shots(page, "web")
    # The theme toggle overrides the system's choice, and is remembered.
    page.click("[data-theme-toggle]")
    theme = page.get_attribute("html", "data-theme")
    assert theme in ("dark", "light")
    page.reload()
    page.wait_for_selector("[data-tiles][data-ready=true]")
    assert page.get_attribute("html", "data-theme") == theme
    page.click("[data-theme-toggle]")
    assert page.get_attribute("html", "data-theme") != theme
    page.evaluate("() => localStorage.removeItem('reactor_theme')")
    page.reload()
    page.wait_for_selector("[data-tiles][data-ready=true]")
    page.wait_for_selector("section.panel-sources table.data")
    page.set_viewport_size(PHONE)
    page.wait_for_timeout(200)
    shots(page, "web-phone")
    page.set_viewport_size(DESKTOP)
    # Today: hourly buckets.
    page.click("button[data-range=today]")
    page.wait_for_url(re.compile(r"range=today"))
    page.wait_for_selector("[data-tiles][data-ready=true]")
    assert recorder.find(kind="web", time_bucket="1h")
    assert_tiles_match(page, server, tiles_body(recorder))
    page.close()


def test_a_click_on_a_row_filters_the_whole_page(session, server, seed):
    page = session.new_page()
    recorder = open_web(page, server, seed.shop)
    page.wait_for_selector(".panel-sources table.data")
    row = page.locator(".panel-sources tbody tr", has=page.locator("th", has_text=re.compile(r"^google\.com$")))
    recorder.bodies.clear()
    row.locator("button.rowlink").click()
    page.wait_for_selector("[data-filter=source]")
    page.wait_for_selector("[data-tiles][data-ready=true]")
    body = tiles_body(recorder)
    assert body["filter"] == {"prop": {"source": {"eq": "google.com"}}}
    filtered = assert_tiles_match(page, server, body)
    unfiltered = ask(server, {k: v for k, v in body.items() if k != "filter"})
    assert filtered["row"]["visitors"] < unfiltered["rows"][0]["visitors"]
    # Every panel is filtered too.
    page.wait_for_selector(".panel-pages table.data")
    pages = recorder.find(kind="web", dimension="page")
    assert pages["filter"] == body["filter"]
    # A second filter joins the first with all.
    page.locator(".panel-devices tbody tr button.rowlink").first.click()
    page.wait_for_selector("[data-filter=browser]")
    page.wait_for_selector("[data-tiles][data-ready=true]")
    both = tiles_body(recorder)
    assert both["filter"]["all"][0] == {"prop": {"source": {"eq": "google.com"}}}
    assert list(both["filter"]["all"][1]["prop"]) == ["browser"]
    assert_tiles_match(page, server, both)
    shots(page, "web-filtered")
    # Removing the chips removes the filters.
    page.click("[data-filter=browser] .chip-x")
    page.wait_for_selector("[data-filter=browser]", state="detached")
    page.click("[data-filter=source] .chip-x")
    page.wait_for_selector("[data-filter]", state="detached")
    page.wait_for_selector("[data-tiles][data-ready=true]")
    assert "filter" not in tiles_body(recorder)
    page.close()


def test_csv_download_of_a_panel(session, server, seed):
    page = session.new_page()
    recorder = open_web(page, server, seed.shop)
    page.wait_for_selector(".panel-pages table.data")
    with page.expect_download() as info:
        page.click(f".panel-pages button[data-csv='{seed.shop}-page']")
    download = info.value
    assert download.suggested_filename == f"{seed.shop}-page.csv"
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text())))
    expected = ask(server, recorder.find(kind="web", dimension="page"))["rows"]
    assert [r["key"] for r in rows] == [e["key"] for e in expected]
    assert [float(r["visitors"]) for r in rows] == [e["visitors"] for e in expected]
    assert [float(r["pageviews"]) for r in rows] == [e["pageviews"] for e in expected]
    page.close()


# -- the other pages -----------------------------------------------------------------------------

def test_all_projects_overview(session, server, seed):
    page = session.new_page()
    recorder = Recorder(page)
    page.goto(f"{server.url}/#/overview?range=7d")
    page.wait_for_selector(f"a[data-project='{seed.shop}']")
    assert page.locator("select[name=project]").count() == 1
    ids = {p["slug"]: p["id"] for p in requests.get(server.url + "/analytics/v1/projects", headers=ADMIN,
                                                    timeout=10).json()["data"]}
    for project in (seed.shop, seed.blog):
        body = recorder.find(kind="summary", project_id=ids[project])
        summary = ask(server, body)["rows"][0]
        row = page.locator("tbody tr", has=page.locator(f"a[data-project='{project}']"))
        cells = row.locator("td").all_text_contents()
        assert [int(c.replace(",", "")) for c in cells[:4]] == [summary[k] for k in ("total_events", "dau", "wau", "mau")]
    shots(page, "overview")
    # The picker leads to a project's web overview.
    page.select_option("select[name=project]", seed.blog)
    page.wait_for_selector("[data-tiles][data-ready=true]")
    assert f"project={seed.blog}" in page.url
    # And back to all projects.
    page.select_option("select[name=project]", "")
    page.wait_for_selector(f"a[data-project='{seed.shop}']")
    page.close()


def test_trends_with_an_active_persons_measure(session, server, seed):
    page = session.new_page()
    recorder = Recorder(page)
    page.goto(f"{server.url}/#/trends?project={seed.shop}&range=7d")
    page.wait_for_selector(".chart canvas")
    page.select_option("select[name=measure]", "dau")
    page.click("form.builder button[type=submit]")
    page.wait_for_url(re.compile(r"measure=dau"))
    page.wait_for_selector(".chart canvas")
    body = recorder.find(kind="aggregate", measure="dau")
    assert body["time_bucket"] == "1d"
    rows = ask(server, body)["rows"]
    page.click("details.chart-table summary")
    shown = [int(v.replace(",", "")) for v in page.locator("details.chart-table tbody td").all_text_contents()]
    assert shown == [r["value"] for r in rows]
    shots(page, "trends")
    # Broken down by a property.
    page.fill("input[name=event]", "signup")
    page.fill("input[name=group_by]", "plan")
    page.select_option("select[name=measure]", "count")
    page.click("form.builder button[type=submit]")
    page.wait_for_url(re.compile(r"by=plan"))
    page.wait_for_selector(".chart canvas")
    body = recorder.find(kind="aggregate", measure="count")
    assert body["group_by"] == [{"prop": "plan"}] and body["filter"] == {"event": {"eq": "signup"}}
    page.close()


def test_build_a_funnel(session, server, seed):
    page = session.new_page()
    recorder = Recorder(page)
    page.goto(f"{server.url}/#/funnels?project={seed.shop}&range=7d")
    page.wait_for_selector("input[name=step-1]")
    page.fill("input[name=step-1]", "$pageview")
    page.fill("input[name=step-2]", "signup")
    page.click("[data-add-step]")
    page.fill("input[name=step-3]", "purchase")
    page.click("form.funnel-builder button[type=submit]")
    page.wait_for_selector(".funnel-chart [data-step='3']")
    body = recorder.find(kind="funnel")
    assert [s["event"] for s in body["steps"]] == ["$pageview", "signup", "purchase"]
    steps = ask(server, body)["rows"][0]["steps"]
    counts = [int(c.replace(",", "")) for c in page.locator(".funnel-card tbody td:nth-child(2)").all_text_contents()]
    assert counts == [s["count"] for s in steps] and counts[0] > counts[1] > counts[2] > 0
    dropped = page.locator(".funnel-card tbody td:nth-child(4)").all_text_contents()
    assert [int(d.replace(",", "")) for d in dropped] == [0, steps[0]["count"] - steps[1]["count"],
                                                          steps[1]["count"] - steps[2]["count"]]
    shots(page, "funnels")
    page.close()


def test_retention_grid_and_paths(session, server, seed):
    page = session.new_page()
    recorder = Recorder(page)
    page.goto(f"{server.url}/#/retention?project={seed.shop}&range=7d&period=day&periods=5")
    page.wait_for_selector("table.heatmap")
    rows = ask(server, recorder.find(kind="retention"))["rows"]
    sizes = [int(s.replace(",", "")) for s in page.locator("table.heatmap tbody td:nth-child(2)").all_text_contents()]
    assert sizes == [r["size"] for r in rows]
    shots(page, "retention")
    page.goto(f"{server.url}/#/paths?project={seed.shop}&range=7d")
    page.wait_for_selector("ol.paths li")
    rows = ask(server, recorder.find(kind="path"))["rows"]
    counts = [int(c.replace(",", "")) for c in page.locator("ol.paths .path-count").all_text_contents()]
    assert counts == [r["count"] for r in rows]
    shots(page, "paths")
    page.close()


def test_triage_an_error(session, server, seed):
    page = session.new_page()
    page.goto(f"{server.url}/#/errors?project={seed.shop}&range=7d")
    page.wait_for_selector("tr[data-fingerprint]")
    groups = requests.get(f"{server.url}/analytics/v1/errors", params={"project_id": seed.shop, "last": "7d"},
                          headers=ADMIN, timeout=10).json()["data"]
    assert sorted(page.locator("tr[data-fingerprint]").evaluate_all("rows => rows.map(r => r.dataset.fingerprint)")) == \
        sorted(g["fingerprint"] for g in groups)
    group = next(g for g in groups if g["type"] == "TypeError")
    page.click(f"tr[data-fingerprint='{group['fingerprint']}'] button.rowlink")
    page.locator("pre.stack", has_text="renderCart").wait_for()
    shots(page, "errors")
    page.click(".detail-card [data-triage=resolved]")
    page.wait_for_selector(f".detail-card [data-state=resolved]")
    after = requests.get(f"{server.url}/analytics/v1/errors", params={"project_id": seed.shop, "last": "7d"},
                         headers=ADMIN, timeout=10).json()["data"]
    assert next(g for g in after if g["fingerprint"] == group["fingerprint"])["state"] == "resolved"
    # Gone from the unresolved list; found under Resolved.
    assert page.locator(f"tr[data-fingerprint='{group['fingerprint']}']").count() == 0
    page.click("[data-state-filter=resolved]")
    page.wait_for_selector(f"tr[data-fingerprint='{group['fingerprint']}']")
    page.close()


def test_settings_and_a_shared_link_opened_signed_out(session, browser, server, seed):
    page = session.new_page()
    page.goto(f"{server.url}/#/admin?project={seed.shop}")
    page.wait_for_selector("#admin-keys table.data, #admin-keys .empty")
    page.fill("input[name=key_name]", "browser")
    page.click("#admin-keys button[type=submit]")
    page.wait_for_selector("#admin-keys [data-secret]")
    assert page.input_value("#admin-keys [data-secret]").startswith("rapk_")
    page.fill("input[name=hostname]", "shop.example.com")
    page.click("#admin-sources button[type=submit]")
    page.wait_for_selector("#admin-sources tbody th:has-text('shop.example.com')")
    page.fill("input[name=pixel_name]", "newsletter")
    page.click("#admin-pixels button[type=submit]")
    page.wait_for_selector("#admin-pixels tbody th:has-text('newsletter')")
    page.fill("input[name=share_name]", "Public")
    page.click("#admin-shares button[type=submit]")
    page.wait_for_selector("#admin-shares [data-secret]")
    url = page.input_value("#admin-shares [data-secret]")
    assert re.search(r"/share/[^/]+$", url)
    shots(page, "settings")
    # The link, in a browser that never signed in: the project's web overview, read-only.
    stranger = browser.new_context(viewport=DESKTOP)
    shared = stranger.new_page()
    recorder = Recorder(shared)
    shared.goto(url)
    shared.wait_for_selector("[data-tiles][data-ready=true]")
    assert_tiles_match(shared, server, {**tiles_body(recorder), "project_id": seed.shop})
    assert shared.locator("[data-signout]").count() == 0
    assert shared.locator("nav a[data-page]").evaluate_all("a => a.map(x => x.dataset.page)") == ["web"]
    shots(shared, "shared")
    # Revoked: the link's session ends and the link is gone.
    page.click("#admin-shares [data-revoke-share]")
    page.wait_for_selector("#admin-shares [data-revoke-share]", state="detached")
    shared.reload()
    shared.wait_for_selector("text=Link not found")
    stranger.close()
    page.close()
