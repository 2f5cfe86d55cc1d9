"""Shareable links in a real browser: a copied URL reopens the same view, and the URL follows the widgets.

The app server the browser modules share (fixtures in conftest); screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import choose, exception_boxes, open_top_page, screenshot, wait_for_app, wait_settled

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load plus a heatmap, on 2 CPU cores shared with other sessions
HEATMAP_LINK = "heatmaps?model=efficientnet_lite0&photo=coffee&class=967&method=layercam&layer=block7a_project_conv"


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.set_default_timeout(TIMEOUT)
    return page


def query(page) -> dict[str, list[str]]:
    return parse_qs(urlsplit(page.url).query)


def selected(page, label: str) -> str:
    """The option shown in the Streamlit selectbox labelled ``label``."""
    return page.get_by_role("combobox", name=label, exact=True).first.input_value()


def test_a_heatmaps_link_reopens_that_map_and_follows_the_widgets(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/{HEATMAP_LINK}")
    page.get_by_text("LayerCAM on block7a_project_conv").first.wait_for()
    wait_settled(page)
    assert selected(page, "Class to explain") == "espresso · 967"
    assert selected(page, "Sample") == "coffee" and selected(page, "Method") == "LayerCAM"
    assert selected(page, "Target layer") == "block7a_project_conv"
    assert query(page) == {"model": ["efficientnet_lite0"], "photo": ["coffee"], "class": ["967"],
                           "method": ["layercam"], "layer": ["block7a_project_conv"]}
    screenshot(page, "link-heatmaps")
    choose(page, "Method", "Grad-CAM++")
    page.get_by_text("Grad-CAM++ on block7a_project_conv").first.wait_for()
    wait_for_app(page)
    assert query(page)["method"] == ["gradcam++"] and query(page)["class"] == ["967"]
    open_top_page(page, "Dream")
    page.get_by_text("Press Run to dream.").wait_for()
    wait_for_app(page)
    assert set(query(page)) == {"model", "photo", "layers", "steps", "lr", "octaves", "seed"}  # no class, method
    assert query(page)["photo"] == ["coffee"]  # the session's photo travels; the link's other keys do not
    assert not exception_boxes(page)


def test_a_link_with_bad_values_says_so_and_opens_the_defaults(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/dream?model=nope&photo=noise&steps=abc&lr=-1&octaves=2&seed=42")
    page.get_by_text("This link has values this page can't use").wait_for()
    page.get_by_text("Press Run to dream.").wait_for()
    wait_settled(page)
    warning = page.locator('[data-testid="stAlert"]').filter(has_text="This link has values").inner_text()
    assert "steps abc is not a whole number from 1 to 100; showing 20 instead." in warning
    assert "lr -1 is not one of" in warning and "model nope is neither" in warning
    assert query(page) == {"model": ["efficientnet_lite0"], "photo": ["noise"],
                           "layers": ["block4c_add", "block5c_add"], "steps": ["20"], "lr": ["0.01"],
                           "octaves": ["2"], "seed": ["42"]}
    screenshot(page, "link-dream-bad-values")
    assert not exception_boxes(page)
