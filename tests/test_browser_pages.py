"""Each page in a real browser, the way a user works it; then several users at once.

One real server of its own (FRESH_SERVER, fixtures in conftest), whose first request is /filters. Steps are
kept small: the point is the page's behaviour in a browser (streaming, widgets, no exception box),
not the quality of the images.
"""
from __future__ import annotations

import os
import random
import shutil

import pytest
from browser import choose, exception_boxes, open_top_page, screenshot, set_number, slide, upload, wait_for_app

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load plus a run, on 2 CPU cores shared with other sessions
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "samples")
FRESH_SERVER = True  # a server of its own (conftest's server): its first request is a page's URL


def new_page(browser):
    page = browser.new_context(viewport={"width": 1400, "height": 1100}).new_page()
    page.set_default_timeout(TIMEOUT)
    return page


def open_page(page, server: str, path: str, ready_text: str) -> None:
    page.goto(f"{server}/{path}")
    page.get_by_text(ready_text).first.wait_for()
    wait_for_app(page)


def start_filters(page, server, *, layer: str, seed: int, steps: int = 5) -> None:
    open_page(page, server, "filters", "Press Run to grow one image per filter.")
    choose(page, "Layer", layer)
    page.locator('[data-testid="stButtonGroup"]').get_by_text("4", exact=True).click()
    set_number(page, "Steps", steps)
    set_number(page, "Seed", seed)
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()


def start_dream(page, server, *, sample: str) -> None:
    open_page(page, server, "dream", "Press Run to dream.")
    choose(page, "Sample", sample)
    slide(page, "Octaves", "Home")
    slide(page, "Steps per octave", "Home", "ArrowRight", "ArrowRight")  # 3 steps
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()


def test_a_page_url_opened_first_runs_in_the_app_frame(server, browser):
    """The server's very first request is a page's URL: the page still has the top navigation and
    the sidebar's model picker (it reruns through app.py), and no "page not found" dialog."""
    page = new_page(browser)
    open_page(page, server, "filters", "Press Run to grow one image per filter.")
    links = page.locator('[data-testid="stTopNavLink"]')
    titles = ["Home", "Filters", "Heatmaps", "Why this class?", "Dream", "Audit"]
    assert links.count() == len(titles)
    assert all(links.nth(i).inner_text().strip().endswith(title) for i, title in enumerate(titles))  # after its icon
    assert page.locator('[data-testid="stSidebar"]').get_by_text("efficientnet_lite0 · input").count() == 1
    assert page.get_by_role("dialog").count() == 0 and page.url.split("?")[0].endswith("/filters")
    screenshot(page, "filters-opened-first")
    open_top_page(page, "Home")
    page.get_by_text("military uniform —").wait_for()
    assert not exception_boxes(page)


def test_filters_page_streams_a_grid_and_shows_a_tile(server, browser):
    page = new_page(browser)
    start_filters(page, server, layer="block3b_project_conv", seed=random.randrange(10**6))
    page.get_by_text("Step 5 / 5").first.wait_for()
    wait_for_app(page)
    choose(page, "Image to look at", "filter 2")
    page.get_by_text("block3b_project_conv · filter 2 · mean activation").wait_for()
    page.get_by_role("button", name="Download grid PNG").wait_for()
    screenshot(page, "filters")
    assert not exception_boxes(page)


def test_heatmaps_page_explains_an_uploaded_photo(server, browser):
    page = new_page(browser)
    open_page(page, server, "heatmaps", "Faithfulness")
    page.get_by_text("military uniform ·").first.wait_for()
    page.get_by_text("Upload", exact=True).click()
    with open(os.path.join(SAMPLES, "coffee.jpg"), "rb") as photo:
        upload(page, photo.read(), "coffee.jpg", mime="image/jpeg")
    page.get_by_text("espresso ·").first.wait_for()
    slide(page, "Opacity", "ArrowRight", "ArrowRight")
    choose(page, "Colormap", "viridis")
    wait_for_app(page)
    page.get_by_role("button", name="Download overlay PNG").wait_for()
    screenshot(page, "heatmaps")
    assert not exception_boxes(page)


def test_dream_page_streams_frames_and_offers_downloads(server, browser):
    page = new_page(browser)
    start_dream(page, server, sample="cat")
    page.get_by_text("Done ·").first.wait_for()
    page.get_by_role("button", name="Download GIF").wait_for()
    screenshot(page, "dream")
    assert not exception_boxes(page)


def test_concurrent_users_see_only_their_own_results(server, browser):
    """Four sessions start at once on one server and one shared model: two filter runs on
    different layers, a dream and a heatmap. Each finishes without error and shows its own work."""
    users = [new_page(browser) for _ in range(4)]
    start_filters(users[0], server, layer="block2a_expand_conv", seed=random.randrange(10**6), steps=8)
    start_filters(users[1], server, layer="block5c_project_conv", seed=random.randrange(10**6), steps=8)
    start_dream(users[2], server, sample="rocket")
    open_page(users[3], server, "heatmaps", "Faithfulness")
    for page in users[:2]:
        page.get_by_text("Step 8 / 8").first.wait_for()
        wait_for_app(page)
    users[2].get_by_text("Done ·").first.wait_for()
    users[0].get_by_text("block2a_expand_conv · filter 0").wait_for()
    users[1].get_by_text("block5c_project_conv · filter 0").wait_for()
    assert users[0].get_by_text("block5c_project_conv · filter").count() == 0
    assert users[1].get_by_text("block2a_expand_conv · filter").count() == 0
    users[3].get_by_text("military uniform ·").first.wait_for()
    for number, page in enumerate(users):
        screenshot(page, f"concurrent-{number}")
        assert not exception_boxes(page)
