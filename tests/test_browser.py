"""Real-browser end-to-end tests: a real Streamlit server, Debian's Chromium, a user's clicks."""
from __future__ import annotations

import os
import shutil

import pytest

from browser import choose, exception_boxes, screenshot, upload, wait_for_app

pytestmark = pytest.mark.skipif(not shutil.which("chromium") and not os.path.exists("/usr/bin/chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
PAGE_TIMEOUT = 240_000  # ms; a cold model load plus a run on 2 CPU cores


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1000})
    page = context.new_page()
    page.set_default_timeout(PAGE_TIMEOUT)
    yield page
    context.close()


def test_home_predicts_the_sample_photo(server, page):
    page.goto(server)
    page.get_by_text("military uniform —").wait_for()
    wait_for_app(page)
    screenshot(page, "home")
    assert not exception_boxes(page)
    page.get_by_text("Top predictions").wait_for()


def test_home_other_sample_and_offline_zoo_model(server, page):
    page.goto(server)
    page.get_by_text("military uniform —").wait_for()
    choose(page, "Sample", "coffee")
    page.get_by_text("espresso —").wait_for()
    choose(page, "Model", "VGG16", scope=page.locator('[data-testid="stSidebar"]'))
    page.get_by_text("Could not download the ImageNet weights for VGG16").wait_for()
    screenshot(page, "home-vgg16-offline")
    assert not exception_boxes(page)


def test_bad_uploads_show_a_clear_error_and_good_ones_predict(server, page):
    from abuse_files import cases
    corpus = {case.name: case for case in cases()}
    page.goto(server)
    page.get_by_text("military uniform —").wait_for()
    page.get_by_text("Upload", exact=True).click()
    for name in ("HTML named as an image", "PNG decompression bomb", "truncated JPEG"):
        case = corpus[name]
        upload(page, case.data, case.filename)
        page.locator('[data-testid="stAlertContentError"]').filter(has_text=case.expected).wait_for()
        assert not exception_boxes(page)
    screenshot(page, "home-bad-upload")
    upload(page, corpus["CMYK JPEG"].data, "cmyk.jpg")
    page.get_by_text("Top predictions").wait_for()
    wait_for_app(page)
    assert not exception_boxes(page)
