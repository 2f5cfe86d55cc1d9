"""The Why page in a real browser: opened first by its URL on a fresh server, a row per top channel,
then a contrast class. Steps are kept small; the screenshots go to test-artifacts/."""
from __future__ import annotations

import os
import shutil

import pytest
from playwright.sync_api import expect
from browser import choose, exception_boxes, screenshot, set_number, wait_for_app, wait_settled

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load plus a run, on 2 CPU cores shared with other sessions
FRESH_SERVER = True  # a server of its own (conftest's server): its first request is a page's URL


def test_why_view_on_a_sample_shows_the_rows_then_a_contrast(server, browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{server}/why?photo=coffee")  # the server's first request: the page reruns through app.py
    page.get_by_text("The channels that made the score").first.wait_for()
    wait_for_app(page)
    set_number(page, "Steps", 4)
    wait_settled(page)
    nav = page.locator('[data-testid="stTopNavLink"]')
    assert "Why this class?" in [nav.nth(i).inner_text() for i in range(nav.count())][3]  # right after Heatmaps
    expect(page.locator('[data-testid="stProgress"]').filter(has_text="of the score")).to_have_count(8)
    # the feature pictures, finished: the eight captions reach the browser one delta at a time
    expect(page.get_by_text("what it responds to")).to_have_count(8, timeout=TIMEOUT)
    assert not exception_boxes(page)
    screenshot(page, "why")
    choose(page, "Rather than (contrast)", "coffee mug")
    wait_settled(page)
    assert page.get_by_text("rather than").count() >= 1 and page.get_by_text("Logit difference").count() == 1
    assert not exception_boxes(page)
    screenshot(page, "why-contrast")
