"""The Filters page in a real browser: pick MaCo under robust mode, grow a small grid, switch the
transparency overlay on, read the plausibility line under the inspected picture and the grid's."""
from __future__ import annotations

import os
import shutil
from urllib.parse import parse_qs, urlsplit

import pytest
from browser import exception_boxes, screenshot, set_number, wait_for_app, wait_settled

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load and a run, on 2 CPU cores shared with other sessions
LINK = ("model=efficientnet_lite0&mode=robust&steps=4&size=64&seed=7&show=Filters"
        "&layer=block2a_expand_conv&filters=0-3")


def test_picking_maco_grows_pictures_with_transparency_and_plausibility(server, browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1600}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{server}/filters?{LINK}")
    page.get_by_text("Press Run to grow").wait_for()
    wait_settled(page)
    page.get_by_text("MaCo", exact=True).click()
    page.get_by_text("Transparency", exact=True).wait_for()  # MaCo's switch appears
    wait_settled(page)
    assert parse_qs(urlsplit(page.url).query)["picture"] == ["MaCo"]
    set_number(page, "Steps", 4)  # MaCo's own boxes (each mode keeps its numbers): a short run
    wait_settled(page)
    set_number(page, "Image size (px)", 64)
    wait_settled(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Step 4 / 4").first.wait_for()
    wait_for_app(page)
    page.get_by_text("Transparency", exact=True).click()
    wait_settled(page)
    page.get_by_text("Plausibility:").first.wait_for()  # under the inspected picture
    page.get_by_text("under each picture").first.wait_for()  # the grid's tiles each labelled with theirs
    screenshot(page, "filters-maco")
    assert not exception_boxes(page)
