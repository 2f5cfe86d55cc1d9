"""The Filters page's "What to show" views in a real browser, each opened from a shared link.

The app server the browser modules share (fixtures in conftest); screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import choose, exception_boxes, screenshot, wait_for_app, wait_settled

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load and a run, on 2 CPU cores shared with other sessions
SMALL = "model=efficientnet_lite0&mode=classic&steps=4&size=100&seed=7"
VIEWS = [
    ("Neuron", "show=Neuron&layer=block4a_expand_conv&filters=0-3", "filter 3",
     "block4a_expand_conv · filter 3 · neuron activation"),
    ("Class", "show=Class&class=963&class=967&images=1", "espresso", "espresso · class score"),
    ("Diversity", "show=Diversity&layer=block4a_expand_conv&filter=5&images=4&diversity=8",
     "filter 5 · image 3", "block4a_expand_conv · filter 5 · image 3 · mean activation"),
    ("Mix", "show=Mix&layer=block4a_expand_conv&from=3&to=9&images=5", "50% filter 3 + 50% filter 9",
     "block4a_expand_conv · 50% filter 3 + 50% filter 9 · blended activation"),
]


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1300}).new_page()
    page.set_default_timeout(TIMEOUT)
    return page


@pytest.mark.parametrize("show, link, tile, caption", VIEWS, ids=[view[0] for view in VIEWS])
def test_each_view_opens_from_a_link_streams_and_shows_a_tile(server, browser, show, link, tile, caption):
    page = new_page(browser)
    page.goto(f"{server}/filters?{SMALL}&{link}")
    page.get_by_text("Press Run to grow").wait_for()
    wait_settled(page)
    assert page.get_by_role("alert").filter(has_text="link").count() == 0  # no complaint about the link
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Step 4 / 4").first.wait_for()
    wait_for_app(page)
    choose(page, "Image to look at", tile)
    page.get_by_text(caption).first.wait_for()
    page.get_by_role("button", name="Download grid PNG").wait_for()
    if show == "Class":
        page.get_by_text("What the model sees in it:").wait_for()
    kept = parse_qs(urlsplit(page.url).query)
    assert kept["show"] == [show] and kept["steps"] == ["4"] and kept["seed"] == ["7"]
    screenshot(page, f"filters-{show.lower()}")
    assert not exception_boxes(page)


def test_a_garbage_filters_link_says_so(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/filters?show=Nope&layer=nope&steps=-3&class=banana")
    page.get_by_text("This link has values this page can't use").wait_for()
    page.get_by_text("Press Run to grow one image per filter.").wait_for()
    wait_settled(page)
    screenshot(page, "filters-bad-link")
    assert not exception_boxes(page)
