"""Filters on any property and saved segments in the dashboard, in Debian's Chromium against
`reactor serve` under gunicorn with seeded data (tests/test_dashboard.py's): a property filter
added through the "Add filter" form, the tiles compared with `/analytics/v1/query` answering the
same body, the filters saved as a segment, a reload, the segment applied, then deleted; trends
with a property filter beside the event, against the `aggregate` answer. The filter bar with its
segments is photographed into `.cache/screenshots/dashboard/`."""

from __future__ import annotations

import pytest
import requests

from browser import browser, playwright_driver  # noqa: F401 (fixtures)
from conftest import ADMIN
from test_dashboard import (BUILT, Recorder, assert_tiles_match, ask, open_web, seed, server, session, shots,  # noqa: F401
                            tiles_body)

pytestmark = pytest.mark.skipif(not BUILT.is_file(), reason="the dashboard is not built (make dashboard)")

PRO = {"prop": {"plan": {"eq": "pro"}}}


def segments(server, project: str) -> list[dict]:
    answer = requests.get(f"{server.url}/analytics/v1/projects/{project}/segments", headers=ADMIN, timeout=30)
    assert answer.status_code == 200, answer.text
    return answer.json()["data"]


def test_a_property_filter_saved_as_a_segment_applied_after_a_reload_and_deleted(session, server, seed):
    page = session.new_page()
    recorder = open_web(page, server, seed.shop)
    # The form opens from the keyboard, starts on its first field and closes with Escape.
    page.focus("[data-add-filter]")
    page.keyboard.press("Enter")
    assert page.get_attribute("[data-add-filter]", "aria-expanded") == "true"
    assert page.evaluate("document.activeElement.name") == "filter_field"
    page.keyboard.press("Escape")
    assert page.locator("form.add-filter").is_hidden()
    assert page.evaluate("document.activeElement.hasAttribute('data-add-filter')")
    # An event property, by its labels.
    page.click("[data-add-filter]")
    page.get_by_label("Field").select_option("prop")
    page.get_by_label("Property name").fill("plan")
    page.get_by_label("Operator").select_option("is")
    page.get_by_label("Value").fill("pro")
    recorder.bodies.clear()
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_selector('[data-filter="prop:plan"]')
    page.wait_for_selector("[data-tiles][data-ready=true]")
    body = tiles_body(recorder)
    assert body["filter"] == PRO
    filtered = assert_tiles_match(page, server, body)
    unfiltered = ask(server, {k: v for k, v in body.items() if k != "filter"})
    assert 0 < filtered["row"]["visitors"] < unfiltered["rows"][0]["visitors"]
    # The panels too (no page row here: a visit passes through its signup, which is not a pageview).
    page.wait_for_selector(".panel-pages table.data, .panel-pages p.empty")
    assert recorder.find(kind="web", dimension="page")["filter"] == PRO
    assert recorder.find(kind="web", dimension="source")["filter"] == PRO
    # Saved as a segment of the project.
    page.click("[data-segments] > summary")
    page.get_by_label("Segment name").fill("Pro plan")
    page.get_by_role("button", name="Save current filters").click()
    page.wait_for_selector('[data-segment="Pro plan"]')
    saved = segments(server, seed.shop)
    assert [(s["name"], s["filter"]) for s in saved] == [("Pro plan", PRO)]
    shots(page, "web-segments")
    # A reload without filters, then the segment applied: its filter replaces the chips.
    page.goto(f"{server.url}/#/web?project={seed.shop}&range=7d&f=" + requests.utils.quote('[["browser","Firefox"]]'))
    page.reload()
    page.wait_for_selector("[data-tiles][data-ready=true]")
    page.wait_for_selector("[data-filter=browser]")
    recorder.bodies.clear()
    page.click("[data-segments] > summary")
    page.get_by_role("button", name="Apply segment Pro plan").click()
    page.wait_for_selector('[data-filter="prop:plan"]')
    page.wait_for_selector("[data-filter=browser]", state="detached")
    page.wait_for_selector("[data-tiles][data-ready=true]")
    again = tiles_body(recorder)
    assert again["filter"] == PRO
    assert_tiles_match(page, server, again)
    # Deleted from the menu.
    page.click("[data-segments] > summary")
    page.get_by_role("button", name="Delete segment Pro plan").click()
    page.wait_for_selector('[data-segment="Pro plan"]', state="detached")
    assert segments(server, seed.shop) == []
    page.close()


def test_trends_take_a_filter_beside_the_event(session, server, seed):
    page = session.new_page()
    recorder = Recorder(page)
    page.goto(f"{server.url}/#/trends?project={seed.shop}&range=7d&event=signup")
    page.wait_for_selector(".chart canvas")
    page.click("[data-add-filter]")
    # A web dimension's values are offered from a `web` query.
    page.get_by_label("Field").select_option("country")
    page.wait_for_selector("form.add-filter datalist option[value=GB]", state="attached")
    # An event property (the signup's plan), with "contains".
    page.get_by_label("Field").select_option("prop")
    page.get_by_label("Property name").fill("plan")
    page.get_by_label("Operator").select_option("contains")
    page.get_by_label("Value").fill("pr")
    recorder.bodies.clear()
    page.get_by_role("button", name="Apply filter").click()
    page.wait_for_selector('[data-filter="prop:plan"][data-op=contains]')
    page.wait_for_selector(".chart canvas")
    body = recorder.find(kind="aggregate")
    assert body["filter"] == {"all": [{"event": {"eq": "signup"}}, {"prop": {"plan": {"contains": "pr"}}}]}
    rows = ask(server, body)["rows"]
    page.click("details.chart-table summary")
    shown = [int(v.replace(",", "")) for v in page.locator("details.chart-table tbody td").all_text_contents()]
    assert shown == [r["value"] for r in rows]
    everyone = ask(server, {**body, "filter": {"event": {"eq": "signup"}}})["rows"]
    assert sum(shown) < sum(r["value"] for r in everyone)
    page.close()
