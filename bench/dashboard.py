"""Dashboard benchmark: the first render of the web overview in Chromium, beside its `web` queries.

    make bench-dashboard         (or: .venv/bin/python bench/dashboard.py --events 10000000)

One run: generates and loads bench/web.py's site traffic (default 10M events, 400k visitors over 30
days; its generator and loader), starts `reactor serve`, runs the first web query once (the engine
derives the visits), signs in to the dashboard, then opens the web overview (last 30 days) in
Debian's Chromium several times, each in a fresh browser context (empty cache: the page, its
script and stylesheet are fetched again). Per load it reads Chromium's navigation timing
(`performance.getEntriesByType("navigation")`) and the dashboard's own marks: the tiles holding
their numbers, the time series drawn, the four panels filled. Beside them: each query body the
page sent, timed alone through the HTTP API (median of several runs), and the tiles' query.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import sys
import tempfile
import time
from pathlib import Path

import psycopg

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))
sys.path.insert(0, str(HERE.parent / "tests"))
import query as qb  # noqa: E402  (bench/query.py: the service, loading, timing)
import web  # noqa: E402  (bench/web.py: the site's traffic)
from browser import launch  # noqa: E402  (tests/browser.py: Debian's Chromium under Playwright)

from reactor_analytics.store import migrate  # noqa: E402
from reactor_analytics.store.embedded import EmbeddedPostgres  # noqa: E402

MARKS = ("reactor:tiles-ready", "reactor:chart-ready", "reactor:panels-ready")


TIMING = """() => {
    const nav = performance.getEntriesByType('navigation')[0];
    const mark = (name) => (performance.getEntriesByName(name)[0] || {}).startTime;
    const res = (part) => performance.getEntriesByType('resource').filter((r) => r.name.includes(part))
        .map((r) => r.responseEnd);
    return { response_end: nav.responseEnd, dom_content_loaded: nav.domContentLoadedEventEnd,
             script: Math.max(...res('/dashboard/assets/app-')), session: res('/dashboard/api/session')[0],
             query_sent: (performance.getEntriesByType('resource').find((r) => r.name.includes('/analytics/v1/query'))
                 || {}).startTime, query_answered: res('/analytics/v1/query')[0],
             tiles: mark('reactor:tiles-ready'), chart: mark('reactor:chart-ready'),
             panels: mark('reactor:panels-ready') };
}"""
READY = "() => ['reactor:tiles-ready', 'reactor:chart-ready', 'reactor:panels-ready']" \
        ".every((m) => performance.getEntriesByName(m).length > 0)"


def open_overview(browser, url: str, token: str) -> tuple[dict, dict, list[dict]]:
    """A first render in a fresh context (empty cache), then a reload (cached files): timings in ms
    since navigation start, and the query bodies the page sent."""
    context = browser.new_context(viewport={"width": 1360, "height": 900})
    signed = context.request.post(url + "/dashboard/api/session", data=json.dumps({"token": token}),
                                  headers={"Content-Type": "application/json"})
    assert signed.ok, signed.text()
    page = context.new_page()
    bodies: list[dict] = []
    page.on("request", lambda r: bodies.append(json.loads(r.post_data))
            if r.method == "POST" and r.url.endswith("/analytics/v1/query") else None)
    page.goto(f"{url}/#/web?project=web&range=30d")
    page.wait_for_function(READY, timeout=120_000)
    cold = page.evaluate(TIMING)
    sent = list(bodies)
    page.reload()
    page.wait_for_function(READY, timeout=120_000)
    warm = page.evaluate(TIMING)
    context.close()
    return cold, warm, sent


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--events", type=int, default=10_000_000)
    parser.add_argument("--visitors", type=int, default=400_000)
    parser.add_argument("--runs", type=int, default=5)
    args = parser.parse_args()
    if not (HERE.parent / "python" / "reactor_analytics" / "static" / "dashboard" / "index.html").is_file():
        sys.exit("the dashboard is not built: run `make dashboard`")

    root = Path(tempfile.mkdtemp(prefix="reactor-bench-dashboard-"))
    os.chmod(root, 0o711)
    database = EmbeddedPostgres(root)
    database.start()
    migrate.migrate(database.url)
    service = qb.Service(database.url, root / "data")
    now_us = int(time.time() * 1e6)
    day0 = (now_us // web.DAY_US - 30) * web.DAY_US
    try:
        with psycopg.connect(database.url) as conn:
            conn.execute("INSERT INTO projects (id, org_id, slug, name) VALUES ('p_web', 'org', 'web', 'web')")
        print(f"generating {args.events:,} events for {args.visitors:,} visitors ...", file=sys.stderr)
        parts = web.generate(args.events, args.visitors, "p_web", root, os.cpu_count() or 2, day0,
                             now_us - web.MIN_US)
        total = sum(p[2] for p in parts)
        print(f"  {total:,} events; loading ...", file=sys.stderr)
        load_s = qb.load_postgres(database.url, "p_web", parts, root)
        print(f"  PostgreSQL {load_s:.0f} s; starting the service ...", file=sys.stderr)
        service.start()
        url = f"http://127.0.0.1:{service.port}"
        first_t, _ = service.query("p_web", {"kind": "web", "time_range": {"last": "30d"}, "metrics": ["visitors"]})

        from playwright.sync_api import sync_playwright

        loads, reloads, bodies = [], [], []
        with sync_playwright() as driver:
            browser = launch(driver)
            open_overview(browser, url, qb.ADMIN_TOKEN)  # Chromium's own first start, not counted
            for _ in range(args.runs):
                cold, warm, bodies = open_overview(browser, url, qb.ADMIN_TOKEN)
                loads.append(cold)
                reloads.append(warm)
            browser.close()

        queries = []
        for body in bodies:
            if body.get("kind") == "realtime":
                name = "realtime"
            elif "dimension" in body:
                name = f"web dimension={body['dimension']}"
            elif "time_bucket" in body:
                name = f"web time_bucket={body['time_bucket']} (chart)"
            else:
                name = "web totals (tiles)"
            t, _ = qb.median_time(lambda: service.query("p_web", {k: v for k, v in body.items() if k != "project_id"})[0],
                                  args.runs)
            queries.append((name, t))

        def med(key: str, runs=loads) -> float:
            return statistics.median(load[key] for load in runs)

        print()
        print(f"dashboard benchmark — web overview, last 30 days, {total:,} events, {args.visitors:,} visitors; "
              f"Chromium, {args.runs} first renders (fresh context, empty cache) and their reloads (files cached); "
              f"median ms since navigation start")
        print(f"{'':46}{'first':>10}{'reload':>10}")
        for label, key in (("index.html received (navigation responseEnd)", "response_end"),
                           ("script and stylesheet received", "script"),
                           ("DOMContentLoaded (script run)", "dom_content_loaded"),
                           ("session answered (its CSRF token)", "session"),
                           ("tiles' query sent", "query_sent"),
                           ("tiles' query answered", "query_answered"),
                           ("tiles hold their numbers", "tiles"),
                           ("time series drawn", "chart"),
                           ("four panels filled", "panels")):
            print(f"{label:46}{med(key):>8.0f}ms{med(key, reloads):>8.0f}ms")
        tiles = ", ".join(f"{load['tiles']:.0f}" for load in loads)
        print(f"each first render's tiles: {tiles} ms (target: 1000 ms)")
        print()
        print(f"the page's queries, each alone through the HTTP API (median of {args.runs}):")
        for name, t in queries:
            print(f"  {name:46}{t * 1000:>10.1f} ms")
        print(f"  {'all of them, one after another':46}{sum(t for _, t in queries) * 1000:>10.1f} ms")
        print(f"first web query after the start (the engine derives the visits, before the page loads): "
              f"{first_t * 1000:.0f} ms")
        print(f"tiles ready / tiles query alone: "
              f"{med('tiles') / (next(t for n, t in queries if n.startswith('web totals')) * 1000):.2f}")
    finally:
        service.stop()
        database.stop("fast")
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
