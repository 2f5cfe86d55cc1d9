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


def test_a_page_opened_on_its_own_reruns_through_the_app_frame():
    """A page's file executed alone (a page URL first on a fresh server) still gets app.py's frame."""
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT)
    at.switch_page("pages/dream.py").run()
    assert not at.exception, at.exception
    assert at.title[0].value == "Dream"
    assert at.sidebar.selectbox(key="model_name").value == "efficientnet_lite0"  # drawn by app.py


# --- ui/ helpers ---------------------------------------------------------------------------------

def test_caches_name_the_model_class_they_hash():
    from ui import cache_keys
    from vizcore.models import VizModel
    assert cache_keys.MODEL_TYPE == f"{VizModel.__module__}.{VizModel.__qualname__}"


def test_model_identity_follows_the_weights_and_the_output_not_the_object(tiny_model):
    import keras

    from ui.cache_keys import model_identity
    from vizcore.models import VizModel

    def loaded(name, model, labels=tiny_model.labels):
        return VizModel(name, model, tiny_model.input_size, labels, tiny_model.scaling)

    assert model_identity(loaded("tiny", tiny_model.keras)) == model_identity(tiny_model)  # reloaded: caches still hit
    assert model_identity(loaded("tiny", tiny_model.keras, ("a", "b", "c", "d"))) != model_identity(tiny_model)
    other = keras.models.clone_model(tiny_model.keras)  # the same layers, other weights
    other.set_weights([weight + 1.0 for weight in tiny_model.keras.get_weights()])
    assert model_identity(loaded("model", other)) != model_identity(loaded("model", tiny_model.keras))


def test_stream_keeps_every_frame_and_draws_the_last():
    from ui.streaming import stream
    kept, drawn = [], []
    stream(range(10), kept.append, drawn.append, seconds=float("inf"))
    assert kept == list(range(10)) and drawn == [0, 9]  # the first at once, then only the last
    kept, drawn = [], []
    stream(range(5), kept.append, drawn.append, seconds=0.0)
    assert kept == drawn == list(range(5))
