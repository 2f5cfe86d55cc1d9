"""ui/photos.py through AppTest: one working photo across the pages, uploads kept by digest and linked.

A user's photo (one the project does not ship: a sample flipped and saved as PNG under a name of the
user's) is uploaded on one page and must be what every other page opens with, named as the user
named it; a link to it reopens it in a fresh session; a link to a photo the server dropped says so.
"""
from __future__ import annotations

import io
from pathlib import Path

import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 300
NAME = "holiday photo (1).png"


@pytest.fixture(scope="module")
def users_photo() -> bytes:
    """coffee.jpg mirrored, as PNG: not a file the project ships."""
    image = Image.open(ROOT / "assets" / "samples" / "coffee.jpg").transpose(Image.Transpose.FLIP_LEFT_RIGHT)
    buffer = io.BytesIO()
    image.save(buffer, format="PNG")
    return buffer.getvalue()


def opened(page: str | None, **query) -> AppTest:
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.query_params.update(query)
    if page:
        at.switch_page(f"pages/{page}.py")
    at.run()
    assert not at.exception, at.exception
    return at


def upload(at: AppTest, key: str, data: bytes, name: str = NAME) -> None:
    at.radio(key=f"{key}_source").set_value("Upload").run()
    at.file_uploader(key=f"{key}_upload").set_value((name, data, "image/png")).run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])


def captions(at: AppTest) -> str:
    return "\n".join(caption.value for caption in at.caption)


def shown_name(at: AppTest) -> bool:
    """The page says which uploaded photo it shows, by the user's name (Markdown escapes removed)."""
    return f"Showing **{NAME}**" in captions(at).replace("\\", "")


def test_an_upload_is_every_pages_photo_under_the_users_name(users_photo):
    at = opened("heatmaps")
    upload(at, "heat", users_photo)
    assert at.query_params["photo"].startswith("upload-")
    for page, key in (("why", "why"), ("dream", "dream"), (None, "home"), ("heatmaps", "heat")):
        at.switch_page(f"pages/{page}.py" if page else "app.py")
        if page == "why":
            at.session_state["why_show_features"] = False  # the photo is what is tested
        at.run()
        assert not at.exception and not at.error, (page, at.exception, [e.value for e in at.error])
        assert at.radio(key=f"{key}_source").value == "Upload", page
        assert shown_name(at), (page, captions(at))
        assert not any(len(word) >= 40 and all(c in "0123456789abcdef" for c in word)
                       for word in captions(at).split()), "a digest where the user's name belongs"


def test_a_sample_chosen_on_one_page_is_the_next_pages_photo():
    at = opened("dream")
    at.selectbox(key="dream_sample").set_value("cat").run()
    at.switch_page("pages/heatmaps.py")
    at.run()
    assert at.radio(key="heat_source").value == "Sample photo"
    assert at.selectbox(key="heat_sample").value == "cat"


def test_heatmaps_opens_why_on_the_uploaded_photo_its_class_layer_and_method(users_photo):
    at = opened("heatmaps")
    upload(at, "heat", users_photo)
    at.selectbox(key="heat_class").set_value(504)  # coffee mug, not the top class
    at.selectbox(key="heat_method").set_value("gradcam++")
    at.selectbox(key="heat_layer").set_value("block7a_project_conv").run()
    at.session_state["why_show_features"] = False
    at.button(key="heat_why").click().run()
    assert not at.exception and not at.error, (at.exception, [e.value for e in at.error])
    assert at.radio(key="why_source").value == "Upload" and shown_name(at)
    assert at.selectbox(key="why_class").value == 504
    assert at.selectbox(key="why_layer").value == "block7a_project_conv"
    assert any("Grad-CAM++ of coffee mug" in caption for image in at.get("image") for caption in image.captions)


def test_a_link_to_an_uploaded_photo_reopens_it_on_the_same_server(users_photo):
    at = opened("heatmaps")
    upload(at, "heat", users_photo)
    link = dict(at.query_params)
    again = opened("heatmaps", **{key: value[0] if len(value) == 1 else value for key, value in link.items()})
    assert not again.warning, [w.value for w in again.warning]
    assert again.radio(key="heat_source").value == "Upload" and shown_name(again)
    top = again.session_state["heat_class"]
    assert top == at.session_state["heat_class"]  # the same photo's top class


def test_a_link_to_a_photo_the_server_no_longer_keeps_says_so_and_shows_the_rest():
    at = opened("heatmaps", photo="upload-" + "0" * 16, **{"class": "968"})
    warnings = "\n".join(warning.value for warning in at.warning)
    assert "is an uploaded photo this server no longer keeps" in warnings
    assert "showing the grace hopper photo instead" in warnings
    assert at.selectbox(key="heat_class").value == 968  # the rest of the view


def test_an_unreadable_upload_is_named_and_the_photo_before_stays(users_photo):
    at = opened(None)
    upload(at, "home", users_photo)
    at.file_uploader(key="home_upload").set_value(("notes.png", b"not an image", "image/png")).run()
    assert not at.exception
    assert any(error.value.startswith("notes.png can't be used") for error in at.error), [e.value for e in at.error]
    at.switch_page("pages/heatmaps.py")
    at.run()
    assert shown_name(at)  # the working photo is still the last good one


def test_the_same_photo_uploaded_twice_is_kept_once(users_photo):
    at = opened(None)
    upload(at, "home", users_photo)
    upload(at, "home", users_photo, name="copy.png")
    digest = at.session_state["_working_photo"][1].upload.digest
    from vizcore.models import weights_cache_dir
    from vizcore.photo_store import digest_of
    assert digest == digest_of(users_photo)
    kept = list((weights_cache_dir() / "uploads" / "photos" / digest).iterdir())
    assert len(kept) == 1 and kept[0].read_bytes() == users_photo
