"""One photo across every page, in a real browser: the seams a new user hit (issue 21), replayed.

- Heatmaps → upload a photo → another class → "Why this class?": the Why page opens on that photo and class.
- Heatmaps (upload) → Why → Dream → Heatmaps: still the uploaded photo, named as the user named it.
- A link to a view of the uploaded photo, opened in a new browser session, reopens the photo.
- On the Why page, switching the Image radio to Upload and uploading at once never loses the upload.
- A model file that can't be read is reported under the user's file name, not a digest; one example
  photo uploaded twice is one example, captioned by its name.
- Astronaut → football helmet → Grad-CAM → sanity check: a map that turns uniform is "Inconclusive", not "Passed".
The photos are ones the project does not ship (samples mirrored and saved under the user's names).
"""
from __future__ import annotations

import hashlib
import io
import os
import shutil
from pathlib import Path

import pytest
from browser import choose, exception_boxes, open_top_page, screenshot, upload, wait_for_app, wait_settled
from PIL import Image
from playwright.sync_api import TimeoutError as PlaywrightTimeout

pytestmark = pytest.mark.skipif(not os.path.exists("/usr/bin/chromium") and not shutil.which("chromium"),
                                reason="Debian's chromium is not installed (.ci/run installs it)")
TIMEOUT = 300_000  # ms: a cold model load plus a run, on 2 CPU cores shared with other sessions
SAMPLES = Path(__file__).resolve().parent.parent / "assets" / "samples"


def users_photo(sample: str, angle: int = 0) -> bytes:
    """A sample mirrored (and turned), as PNG: a photo the project does not ship."""
    image = Image.open(SAMPLES / f"{sample}.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT).rotate(angle)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def new_page(browser, width: int = 1400):
    page = browser.new_context(viewport={"width": width, "height": 1100}).new_page()
    page.set_default_timeout(TIMEOUT)
    return page


def showing(page, name: str):
    """The caption a page shows under an empty uploader: the working photo, by the user's name."""
    return page.locator('[data-testid="stCaptionContainer"]').filter(has_text=f"Showing {name}").first


def no_features(page) -> None:
    """Switch the Why page's feature pictures off (they are not what is tested, and take a while)."""
    toggle = page.locator("label").filter(has_text="Feature pictures").first
    toggle.wait_for(timeout=60_000)
    if toggle.locator("input").is_checked():
        toggle.click()
        wait_for_app(page)


def photo_uploader(page):
    """The photo picker's uploader (not the Why page's "Add photos" one)."""
    return page.locator('[data-testid="stFileUploader"]').filter(has=page.get_by_text("Photo", exact=True)).first


def test_an_uploaded_photo_travels_across_pages_and_links(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/heatmaps")
    page.get_by_text("Faithfulness").first.wait_for()
    page.get_by_text("Upload", exact=True).first.click()
    wait_for_app(page)
    upload(page, users_photo("coffee"), "my espresso.png", mime="image/png", scope=photo_uploader(page))
    page.get_by_text("espresso ·").first.wait_for()
    wait_for_app(page)
    choose(page, "Class to explain", "coffee mug")
    page.wait_for_url("**class=504**")  # coffee mug · 504
    wait_settled(page)
    link = page.url
    assert "photo=upload-" in link
    page.get_by_role("button", name="Why this class?").click()
    page.get_by_text("The channels that made the score").first.wait_for()
    wait_for_app(page)
    showing(page, "my espresso.png").wait_for()
    assert "class=504" in page.url and "photo=upload-" in page.url  # coffee mug · 504, on the upload
    page.get_by_text("Grad-CAM of coffee mug").first.wait_for()
    no_features(page)
    screenshot(page, "working-set-why")
    for title in ("Dream", "Heatmaps"):
        open_top_page(page, title)
        showing(page, "my espresso.png").wait_for()
        assert not exception_boxes(page)
    page.get_by_text("espresso ·").first.wait_for()
    screenshot(page, "working-set-heatmaps-again")

    other = new_page(browser)  # a copied link, in another browser session of the same server
    other.goto(link)
    showing(other, "my espresso.png").wait_for()
    other.get_by_text("coffee mug ·").first.wait_for()
    assert not exception_boxes(other)
    other.close()


def test_an_upload_right_after_the_radio_change_is_kept(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/why")
    page.get_by_text("The channels that made the score").first.wait_for()
    no_features(page)
    for attempt, (sample, angle) in enumerate((("cat", 0), ("rocket", 90))):
        page.get_by_text("Sample photo", exact=True).first.click()
        wait_for_app(page)
        page.get_by_text("Upload", exact=True).first.click()
        name = f"quick {attempt}.png"
        uploader = photo_uploader(page)
        uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').wait_for(state="attached")
        data = users_photo(sample, angle)
        upload(page, data, name, mime="image/png", scope=uploader)  # at once: the radio's rerun may still run
        digest = hashlib.sha256(data).hexdigest()[:16]
        try:  # the upload reaches the server (HTTP), then its rerun shows the photo and puts it in the link
            page.wait_for_url(f"**photo=upload-{digest}**", timeout=90_000)
        except PlaywrightTimeout:
            screenshot(page, f"working-set-lost-upload-{attempt}")
            raise AssertionError(f"the upload {name} was lost: the page shows {page.url}") from None
        wait_settled(page)
        assert name in photo_uploader(page).inner_text() or showing(page, name).count() == 1
        assert not exception_boxes(page)


def test_an_unreadable_model_is_named_as_the_user_named_it(server, browser):
    page = new_page(browser)
    page.goto(server)
    page.get_by_text("military uniform —").wait_for()
    sidebar = page.locator('[data-testid="stSidebar"]')
    choose(page, "Model", "Upload a model file", scope=sidebar)
    sidebar.get_by_text("Upload a .keras or .h5 model file.").wait_for()
    upload(page, b"not a model at all", "my model v2.keras", scope=sidebar)
    error = page.locator('[data-testid="stAlertContentError"]').filter(has_text="is not a .keras model file")
    error.wait_for()
    assert error.inner_text().startswith("my model v2.keras is not a .keras model file"), error.inner_text()
    assert not exception_boxes(page)


def test_example_photos_uploaded_twice_count_once_under_their_names(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/why?photo=cat")
    page.get_by_text("The channels that made the score").first.wait_for()
    no_features(page)
    page.get_by_text("Example photos").first.click()
    uploader = page.locator('[data-testid="stFileUploader"]').filter(has=page.get_by_text("Add photos", exact=True))
    photo = users_photo("cat", 180)
    uploader.locator('[data-testid="stFileUploaderDropzoneInput"]').set_input_files(
        [{"name": "Kitty on the sofa.png", "mimeType": "image/png", "buffer": photo},
         {"name": "Kitty on the sofa (copy).png", "mimeType": "image/png", "buffer": photo}])
    page.get_by_text("and 1 uploaded photos").first.wait_for()
    wait_settled(page)
    page.get_by_text("Kitty on the sofa").first.wait_for()  # a patch of it, captioned by its name
    text = page.locator('[data-testid="stMain"]').inner_text()
    assert not any(len(word) >= 40 and set(word) <= set("0123456789abcdef") for word in text.split())
    assert not exception_boxes(page)


def test_a_sanity_check_with_a_blank_stage_is_inconclusive(server, browser):
    page = new_page(browser)
    page.goto(f"{server}/heatmaps?photo=astronaut&class=560&method=gradcam")  # football helmet
    page.get_by_text("Faithfulness").first.wait_for()
    wait_for_app(page)
    page.get_by_role("button", name="Run sanity check").click()
    page.get_by_text("Inconclusive").first.wait_for()
    wait_settled(page)
    assert page.get_by_text("Passed", exact=False).filter(has_text="Passed:").count() == 0
    screenshot(page, "sanity-inconclusive")
    assert not exception_boxes(page)
