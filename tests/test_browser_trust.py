""""Can I trust this map?" in a real browser: the scores under a heatmap, the sanity check and the ranking.

The app server the browser modules share (fixtures in conftest); screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import shutil

import pytest
from browser import exception_boxes, screenshot, wait_settled

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 600_000  # ms: a cold model load, a map and the first maps of the ranking, on 2 shared CPU cores
LINK = "heatmaps?model=efficientnet_lite0&photo=coffee&class=967"


def test_sanity_check_and_ranking_under_the_map(server, browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{server}/{LINK}")
    page.get_by_text("Can I trust this map?").first.wait_for()
    page.get_by_text("Insertion AUC").first.wait_for()
    wait_settled(page)
    page.get_by_role("button", name="Run sanity check").click()
    verdict = page.locator('[data-testid="stAlert"]').filter(has_text="with the weights from")
    verdict.first.wait_for()
    wait_settled(page)
    assert "Passed" in verdict.first.inner_text()
    assert page.get_by_text("Random from block7a_expand_conv up").count() == 1
    verdict.first.scroll_into_view_if_needed()
    screenshot(page, "trust-sanity")
    page.get_by_role("tab", name="Best method and layer").click()
    page.get_by_role("button", name="Rank methods and layers").click()
    page.locator('[data-testid="stProgress"]').filter(has_text=" done").first.wait_for()  # a map scored
    page.locator(".st-key-heat_rank_stop").get_by_role("button").click()  # the ranking's Stop keeps what it has
    use = page.get_by_role("button", name="Use ")
    use.first.wait_for()
    wait_settled(page)
    assert page.get_by_text("maps: the best of those.").count() == 1  # Stop kept the ranking so far, and says so
    table = page.locator('[data-testid="stDataFrame"]').last
    table.scroll_into_view_if_needed()
    screenshot(page, "trust-ranking")
    best = use.first.inner_text().strip()
    use.first.click()
    wait_settled(page)
    method, layer = best.split("Use ", 1)[1].split(" on ", 1)
    assert page.get_by_text(f"{method} on {layer}").count() >= 1  # the map's caption: the best method and layer
    assert not exception_boxes(page)
