"""A user's own model in a real browser: the Keras transfer-learning recipe (a MobileNetV2 base
nested in a Sequential, one sigmoid unit) picked from the models folder, then a heatmap on an
inner layer, a filter grid and a dream, moving between pages as a user does; and model uploads.

The server gets its own models folder (``VIZCORE_MODELS_DIR``); steps are few: the point is the
pages' behaviour in a browser, not the quality of the images. Screenshots go to test-artifacts/.
"""
from __future__ import annotations

import os
import re
import shutil

import pytest

from browser import (choose, exception_boxes, open_top_page, screenshot, set_number, slide, streamlit_server,
                     upload, wait_for_app, wait_settled)
from test_pages_own_model import BASE, save_small_models, save_transfer_model

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load plus a run, on 2 CPU cores shared with other sessions
INNER_LAYER = f"{BASE}/block_13_expand_relu"


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    save_transfer_model(folder / "pets.keras")
    save_small_models(folder)
    return folder


@pytest.fixture(scope="module")
def own_server(models_folder):
    """A real `streamlit run app.py` whose models folder holds the test's models."""
    with streamlit_server(env={"VIZCORE_MODELS_DIR": str(models_folder)}) as url:
        yield url


@pytest.fixture
def page(browser):
    context = browser.new_context(viewport={"width": 1400, "height": 1800})  # tall: screenshots show whole pages
    page = context.new_page()
    page.set_default_timeout(TIMEOUT)
    yield page
    context.close()


def sidebar(page):
    return page.locator('[data-testid="stSidebar"]')


def pick_folder_model(page, server: str, name: str) -> None:
    page.goto(server)
    page.get_by_text("military uniform —").wait_for()  # the default model first
    choose(page, "Model", f"{name} (your models folder)", scope=sidebar(page))
    wait_for_app(page)


def test_transfer_model_from_the_folder_on_every_page(own_server, page):
    pick_folder_model(page, own_server, "pets")
    page.get_by_text("negative —").wait_for()
    page.get_by_text("positive —").wait_for()
    sidebar(page).get_by_text("looks like MobileNetV2").wait_for()
    wait_settled(page)
    screenshot(page, "own-model-home")
    assert not exception_boxes(page)

    open_top_page(page, "Heatmaps")
    page.get_by_text("Faithfulness").first.wait_for()
    choose(page, "Target layer", "block_13_expand_relu")
    page.get_by_text(f"Grad-CAM on {INNER_LAYER}").wait_for()
    page.get_by_role("button", name="Rank layers").click()
    use = page.get_by_role("button", name="Use ")
    use.wait_for()
    wait_settled(page)
    assert page.locator('[data-testid="stDataFrame"]').count() == 1  # the ranking table
    best = re.search(r"Use (\S+) · in", use.inner_text()).group(1)  # "Use block_6_expand_relu · in mobilenet…"
    use.click()  # the best-ranked layer becomes the target layer
    page.get_by_text(f"Grad-CAM on {BASE}/{best}").wait_for()
    assert use.is_disabled()
    wait_settled(page)
    screenshot(page, "own-model-heatmaps")
    assert not exception_boxes(page)

    open_top_page(page, "Filters")
    page.get_by_text("Press Run to grow one image per filter.").wait_for()
    choose(page, "Layer", "block_6_expand · in")
    page.locator('[data-testid="stButtonGroup"]').get_by_text("4", exact=True).click()
    set_number(page, "Steps", 5)
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Step 5 / 5").first.wait_for()
    wait_for_app(page)
    page.get_by_text(f"{BASE}/block_6_expand · filter 0 · mean activation").wait_for()
    wait_settled(page)
    screenshot(page, "own-model-filters")
    assert not exception_boxes(page)

    open_top_page(page, "Dream")
    page.get_by_text("Press Run to dream.").wait_for()
    slide(page, "Octaves", "Home")
    slide(page, "Steps per octave", "Home", "ArrowRight", "ArrowRight")  # 3 steps
    wait_for_app(page)
    page.get_by_role("button", name="Run").click()
    page.get_by_text("Done ·").first.wait_for()
    page.get_by_role("button", name="Download GIF").wait_for()
    wait_settled(page)
    screenshot(page, "own-model-dream")
    assert not exception_boxes(page)


def test_model_uploads_load_or_say_why_not(own_server, models_folder, page):
    page.goto(own_server)
    page.get_by_text("military uniform —").wait_for()
    choose(page, "Model", "Upload a model file", scope=sidebar(page))
    sidebar(page).get_by_text("Upload a .keras or .h5 model file.").wait_for()
    upload(page, b"not a model at all", "mine.keras", scope=sidebar(page))
    page.locator('[data-testid="stAlertContentError"]').filter(has_text="is not a .keras model file").wait_for()
    assert not exception_boxes(page)
    upload(page, (models_folder / "rating.keras").read_bytes(), "my_rating.keras", scope=sidebar(page))
    page.get_by_text("Values the model outputs").wait_for()
    wait_settled(page)
    screenshot(page, "own-model-upload")
    assert not exception_boxes(page)
