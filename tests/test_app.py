"""The home page and the model picker, through Streamlit's AppTest (no browser)."""
from pathlib import Path

import pytest
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
TIMEOUT = 180  # TensorFlow import and model load on a cold process


def top_prediction(app) -> str:
    """The text of the first prediction bar on the home page."""
    return app.get("progress")[0].proto.text


@pytest.fixture
def app():
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    return at.run()


def test_home_shows_predictions_for_the_sample(app):
    assert not app.exception, app.exception
    assert app.title[0].value == "vizcore"
    assert top_prediction(app).startswith("military uniform — 46")
    assert app.metric[0].value == "efficientnet_lite0"


def test_zoo_model_offline_shows_a_clear_error(app):
    app.sidebar.selectbox(key="model_name").set_value("vgg16").run()
    assert not app.exception
    assert any("Could not download the ImageNet weights for VGG16" in e.value for e in app.error)


def test_other_sample_photo(app):
    app.selectbox(key="home_sample").set_value("coffee").run()
    assert top_prediction(app).startswith("espresso")


def test_photo_over_the_limit_is_refused_before_reading(app):
    from vizcore.images import MAX_FILE_BYTES
    app.radio(key="home_source").set_value("Upload").run()
    app.file_uploader(key="home_upload").set_value(("big.jpg", b"\xff" * (MAX_FILE_BYTES + 1), "image/jpeg")).run()
    assert not app.exception
    assert any("the limit is 40 MB" in error.value for error in app.error), [error.value for error in app.error]
    assert not app.get("progress")  # nothing predicted
