"""The Audit page in a real browser: a folder under the server's roots audited, a count of the
confusion matrix clicked (its photos shown with their maps), one photo opened in Heatmaps.

A server of its own, whose limits file lists a temporary folder as an audit root.
"""
from __future__ import annotations

import os
import shutil

import pytest
from browser import audit_folder, exception_boxes, screenshot, streamlit_server, wait_for_app
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load plus a run, on 2 CPU cores shared with other sessions
SAMPLES = os.path.join(os.path.dirname(os.path.dirname(os.path.abspath(__file__))), "assets", "samples")


@pytest.fixture(scope="module")
def audit_server(tmp_path_factory):
    """A server whose [audit] roots list a folder of two labelled photos; yields (URL, the photos' folder)."""
    root = tmp_path_factory.mktemp("audit-root")
    photos = root / "photos"
    for folder, sample in (("military_uniform", "grace_hopper"), ("espresso", "coffee")):
        (photos / folder).mkdir(parents=True)
        Image.open(os.path.join(SAMPLES, f"{sample}.jpg")).save(photos / folder / f"{sample}.png")
    limits = root / "vizcore.toml"
    limits.write_text(f'[audit]\nroots = ["{root}"]\n')
    with streamlit_server(env={"VIZCORE_LIMITS": str(limits)}) as url:
        yield url, photos


def click_in_last_column(page, grid, row: int, rows: int) -> None:
    """Click the cell at data row ``row`` of an st.dataframe's last column (a canvas grid: no element to click).
    Its columns share the width left by the index, so the last one ends at the grid's right edge; its
    ``rows`` rows and header row share its height, whatever Streamlit's row height is."""
    box = grid.bounding_box()
    row_height = box["height"] / (rows + 1)
    page.mouse.click(box["x"] + box["width"] - 40, box["y"] + row_height * (row + 1.5))


def click_cell_until(page, grid, row: int, rows: int, text: str, tries: int = 3) -> None:
    """Click a cell until ``text`` shows. A click that lands while the canvas grid is still drawing is
    lost; a retry comes only once the app is idle and the text absent, so it never undoes a selection."""
    grid.locator("canvas").first.wait_for()
    for _ in range(tries - 1):
        click_in_last_column(page, grid, row, rows)
        try:
            page.get_by_text(text).wait_for(timeout=20_000)
            return
        except PlaywrightTimeout:  # the click went unseen
            wait_for_app(page)
            if page.get_by_text(text).count():
                return
    click_in_last_column(page, grid, row, rows)
    page.get_by_text(text).wait_for(timeout=60_000)


def test_audit_a_folder_click_a_cell_and_open_a_photo_in_heatmaps(audit_server, browser):
    url, photos = audit_server
    page = audit_folder(browser, url, photos, 1100, TIMEOUT)
    wait_for_app(page)
    assert page.get_by_text("100.0%").count() == 1  # both photos called right: a diagonal matrix
    grid = page.locator('[data-testid="stDataFrame"]').first
    grid.scroll_into_view_if_needed()
    # (espresso, espresso): military uniform 652, espresso 967
    click_cell_until(page, grid, 1, 2, "True espresso, predicted espresso")
    wait_for_app(page)
    screenshot(page, "audit-cell")
    assert not exception_boxes(page)
    page.get_by_text("True espresso, predicted espresso").scroll_into_view_if_needed()
    page.get_by_role("button", name="Open in Heatmaps").first.click()
    page.get_by_text("Class to explain").first.wait_for()
    wait_for_app(page)
    assert page.url.split("?")[0].endswith("/heatmaps")
    assert "class=967" in page.url and "photo=upload-" in page.url  # the photo and its predicted class
    page.get_by_text("Showing coffee.png").wait_for()
    screenshot(page, "audit-to-heatmaps")
    assert not exception_boxes(page)


def test_a_zip_with_a_path_leaving_its_folder_is_refused_in_words(audit_server, browser, tmp_path):
    import zipfile

    evil = tmp_path / "evil.zip"
    with zipfile.ZipFile(evil, "w") as archive:
        archive.write(os.path.join(SAMPLES, "cat.jpg"), "photos/tabby/cat.jpg")
        archive.writestr("../../outside.jpg", b"x")
    url, _ = audit_server
    page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
    page.set_default_timeout(TIMEOUT)
    page.goto(f"{url}/audit")
    page.get_by_text("Upload a zip").first.wait_for()
    wait_for_app(page)
    page.get_by_text("Upload a zip").first.click()
    wait_for_app(page)
    page.locator('[data-testid="stFileUploaderDropzoneInput"]').first.set_input_files(str(evil))
    page.get_by_text("a path that leaves its folder").wait_for()
    screenshot(page, "audit-zip-refused")
    assert not exception_boxes(page)
