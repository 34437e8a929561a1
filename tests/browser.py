"""Browser tests' helpers: Debian's Chromium driven by Playwright, and a test site on its own origin.

Chromium is the one scripts/system-deps.sh installs (`/usr/bin/chromium`, or `REACTOR_CHROMIUM`);
Playwright is only the driver and never downloads a browser. A test module imports the fixtures
it uses together with the ones they depend on (one browser per module, a fresh context and page
per test), and serves its own pages from `site`:

    from browser import browser, context, page, playwright_driver, site  # noqa: F401 (fixtures)


    def test_x(page, site, live_server):
        url = site.add("/index.html", "<script src='...'></script>")
        page.goto(url)

The site listens on `localhost`, so it is another origin (and another host) than the service,
which tests reach at `127.0.0.1`.
"""

from __future__ import annotations

import os
import shutil
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest


def chromium_path() -> str:
    path = os.environ.get("REACTOR_CHROMIUM") or shutil.which("chromium") or "/usr/bin/chromium"
    if not os.path.exists(path):
        raise RuntimeError(f"Chromium not found at {path}: run scripts/system-deps.sh")
    return path


def launch(playwright, **options):
    """Chromium launched headless from its system path. Running as root needs --no-sandbox."""
    args = ["--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu", *options.pop("args", [])]
    return playwright.chromium.launch(executable_path=chromium_path(), headless=True, args=args, **options)


class Site:
    """A tiny HTTP server of in-memory pages: `add(path, html)` returns the page's URL. Every
    request is recorded in `requests` as (method, path, headers)."""

    def __init__(self, host: str = "localhost"):
        site = self
        self.pages: dict[str, tuple[bytes, str]] = {}
        self.requests: list[tuple[str, str, dict]] = []

        class Handler(BaseHTTPRequestHandler):
            def do_GET(self):
                site.requests.append(("GET", self.path, dict(self.headers)))
                # A page's routes (SPA paths, query strings) are served by the page they start with.
                path = self.path.split("?", 1)[0]
                found = site.pages.get(path) or site.pages.get(_route_root(site.pages, path))
                if found is None:
                    self.send_response(404)
                    self.send_header("Content-Length", "0")
                    self.end_headers()
                    return
                body, content_type = found
                self.send_response(200)
                self.send_header("Content-Type", content_type)
                self.send_header("Content-Length", str(len(body)))
                self.send_header("Cache-Control", "no-store")
                self.end_headers()
                self.wfile.write(body)

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.origin = f"http://{host}:{self.server.server_address[1]}"
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self.thread.start()

    def add(self, path: str, body: str | bytes, content_type: str = "text/html; charset=utf-8") -> str:
        """Serve `body` at `path` (and, for a path ending in `/*`, under it); returns the full URL."""
        data = body.encode() if isinstance(body, str) else body
        self.pages[path] = (data, content_type)
        return self.origin + path.removesuffix("/*")

    def url(self, path: str) -> str:
        return self.origin + path

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def _route_root(pages: dict, path: str) -> str | None:
    for prefix in pages:
        if prefix.endswith("/*") and path.startswith(prefix[:-1]):
            return prefix
    return None


@pytest.fixture(scope="module")
def playwright_driver():
    from playwright.sync_api import sync_playwright

    with sync_playwright() as driver:
        yield driver


@pytest.fixture(scope="module")
def browser(playwright_driver):
    chromium = launch(playwright_driver)
    yield chromium
    chromium.close()


@pytest.fixture()
def context(browser):
    ctx = browser.new_context()
    yield ctx
    ctx.close()


@pytest.fixture()
def page(context):
    return context.new_page()


@pytest.fixture(scope="module")
def site():
    served = Site()
    yield served
    served.close()
