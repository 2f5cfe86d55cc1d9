"""The pages with a user's own models (AppTest, no browser): the models folder and uploads.

The models are built here with ``weights=None`` (nothing downloads) and saved with
``model.save`` into a models folder that ``$VIZCORE_MODELS_DIR`` points at:

* ``pets``: the Keras transfer-learning recipe, a MobileNetV2 base nested in a Sequential with
  one sigmoid unit (binary). Its BatchNormalization statistics are set from the sample photos,
  so activations do not vanish through the random base (as a trained model's would not);
* ``rating``: a small CNN ending in ``Dense(1)`` with no activation (regression);
* ``flat``: an image model with no layer with feature maps (Flatten, then Dense);
* ``tiny_grey``: a 28×28 one-channel CNN (MNIST-like), whose filter tiles are tiny;
* ``two_heads``: a Functional model with two outputs, a 3-class softmax and a size (regression);
* ``broken``: a truncated ``.keras`` file.
"""
from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image
from streamlit.testing.v1 import AppTest

ROOT = Path(__file__).resolve().parent.parent
SAMPLES = ROOT / "assets" / "samples"
TIMEOUT = 300  # TensorFlow import, model loads and short runs on a cold process
BASE = "mobilenetv2_0.35_96"  # the name Keras gives the nested base of ``pets``
INNER_LAYER = f"{BASE}/block_13_expand_relu"  # a 6×6 layer deep inside the base
NO_FEATURE_MAPS = "has no layer with feature maps"


# --- models ----------------------------------------------------------------------------------

def calibrate_batch_norm(model, base, side: int) -> None:
    """Set the base's BatchNormalization statistics to those of the sample photos (scaled to −1…1),
    one training-mode pass with momentum 0, as a trained model's would be: else a random base's
    activations shrink towards zero layer after layer."""
    import keras
    photos = np.stack([np.asarray(Image.open(path).convert("RGB").resize((side, side)))
                       for path in sorted(SAMPLES.glob("*.jpg"))]).astype("float32") / 127.5 - 1.0
    norms = [layer for layer in base.layers if isinstance(layer, keras.layers.BatchNormalization)]
    momenta = [layer.momentum for layer in norms]
    for layer in norms:
        layer.momentum = 0.0
    model(photos, training=True)
    for layer, momentum in zip(norms, momenta):
        layer.momentum = momentum


def save_transfer_model(path: Path, side: int = 96) -> Path:
    """The Keras guide's transfer-learning model: MobileNetV2 (no top) nested in a Sequential, sigmoid head."""
    import keras
    keras.utils.set_random_seed(0)
    base = keras.applications.MobileNetV2(include_top=False, weights=None, input_shape=(side, side, 3), alpha=0.35)
    model = keras.Sequential([keras.Input((side, side, 3)), base, keras.layers.GlobalAveragePooling2D(),
                              keras.layers.Dropout(0.2), keras.layers.Dense(1, activation="sigmoid")], name="pets")
    calibrate_batch_norm(model, base, side)
    model.save(path)
    return path


def save_small_models(folder: Path) -> None:
    """``rating`` (regression), ``flat`` (no feature maps), ``tiny_grey`` (28×28 grey), ``two_heads``
    (two outputs) and a truncated ``broken``."""
    import keras
    keras.utils.set_random_seed(1)
    keras.Sequential([keras.Input((64, 64, 3)), keras.layers.Rescaling(1 / 255),
                      keras.layers.Conv2D(8, 3, activation="relu", name="conv_a"),
                      keras.layers.Conv2D(12, 3, strides=2, activation="relu", name="conv_b"),
                      keras.layers.GlobalAveragePooling2D(), keras.layers.Dense(1, name="score")],
                     name="rating").save(folder / "rating.keras")
    keras.Sequential([keras.Input((32, 32, 3)), keras.layers.Flatten(), keras.layers.Dense(3, activation="softmax")],
                     name="flat").save(folder / "flat.keras")
    keras.Sequential([keras.Input((28, 28, 1)), keras.layers.Conv2D(8, 3, activation="relu", name="conv_1"),
                      keras.layers.Conv2D(16, 3, activation="relu", name="conv_2"), keras.layers.Flatten(),
                      keras.layers.Dense(10, activation="softmax")], name="tiny_grey").save(folder / "tiny_grey.keras")
    inputs = keras.Input((48, 48, 3))
    features = keras.layers.GlobalAveragePooling2D()(keras.layers.Conv2D(8, 3, activation="relu", name="conv")(inputs))
    outputs = [keras.layers.Dense(3, activation="softmax", name="kind")(features),
               keras.layers.Dense(1, name="size")(features)]
    keras.Model(inputs, outputs, name="two_heads").save(folder / "two_heads.keras")
    data = (folder / "rating.keras").read_bytes()
    (folder / "broken.keras").write_bytes(data[:len(data) // 2])


@pytest.fixture(scope="module")
def models_folder(tmp_path_factory):
    folder = tmp_path_factory.mktemp("models")
    save_transfer_model(folder / "pets.keras")
    save_small_models(folder)
    before = os.environ.get("VIZCORE_MODELS_DIR")
    os.environ["VIZCORE_MODELS_DIR"] = str(folder)
    yield folder
    if before is None:
        os.environ.pop("VIZCORE_MODELS_DIR", None)
    else:
        os.environ["VIZCORE_MODELS_DIR"] = before


# --- helpers ---------------------------------------------------------------------------------

def app_with(model: str, page: str | None = None) -> AppTest:
    """A fresh session on ``page`` (None: Home) with the models-folder model ``model`` picked.

    AppTest runs a page's file on its own (Streamlit's legacy pages/ mode); the page reruns itself
    through app.py, which draws the sidebar's model picker, as in a browser.
    """
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    if page:
        at.switch_page(f"pages/{page}.py").run()
    at.sidebar.selectbox(key="model_name").set_value(f"folder:{model}").run()
    assert not at.exception, at.exception
    return at


def texts(elements) -> list[str]:
    return [element.value for element in elements]


def progress_texts(at) -> list[str]:
    return [bar.proto.text for bar in at.get("progress")]


def sidebar_selectbox(at, label: str):
    return next(box for box in at.sidebar.selectbox if box.label == label)


def image_captions(at) -> list[str]:
    return [caption for image in at.get("image") for caption in image.captions]


# --- the models folder and Home ----------------------------------------------------------------

def test_models_folder_files_are_in_the_picker(models_folder):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    picker = at.sidebar.selectbox(key="model_name")
    folder_models = {"pets (your models folder)", "rating (your models folder)", "broken (your models folder)"}
    assert folder_models <= set(picker.options)
    assert picker.options[-1] == "Upload a model file"


def test_home_shows_the_two_classes_of_a_binary_transfer_model(models_folder):
    at = app_with("pets")
    assert not at.error, texts(at.error)
    bars = progress_texts(at)
    assert len(bars) == 2 and sorted(bar.split(" — ")[0] for bar in bars) == ["negative", "positive"]
    shares = [float(bar.split(" — ")[1].rstrip("%")) for bar in bars]
    assert abs(sum(shares) - 100) < 0.2  # the two classes of one sigmoid
    assert any("positive class" in caption for caption in texts(at.caption))
    assert any("looks like MobileNetV2" in caption for caption in texts(at.sidebar.caption))  # the scaling's why
    assert sidebar_selectbox(at, "Input scaling").value == "-1-1"
    layers = at.dataframe[0].value
    assert INNER_LAYER in list(layers["name"])  # listed through the nesting, by path


def test_home_shows_a_regression_output_as_a_value(models_folder):
    at = app_with("rating")
    assert not at.error, texts(at.error)
    assert not at.get("progress")  # no probability bars
    assert at.metric[-1].label == "value" and np.isfinite(float(at.metric[-1].value))
    assert any("not probabilities" in caption for caption in texts(at.caption))


def test_a_changed_scaling_is_remembered_beside_the_folder_model(models_folder):
    at = app_with("rating")
    assert sidebar_selectbox(at, "Input scaling").value == "raw"  # suggested: the model rescales its inputs itself
    sidebar_selectbox(at, "Input scaling").set_value("0-1").run()
    assert not at.exception and not at.error, texts(at.error)
    assert json.loads((models_folder / "rating.vizcore.json").read_text())["scaling"] == "0-1"
    again = app_with("rating")  # a new session opens it the same way
    assert sidebar_selectbox(again, "Input scaling").value == "0-1"
    sidebar_selectbox(again, "Input scaling").set_value("raw").run()
    assert json.loads((models_folder / "rating.vizcore.json").read_text())["scaling"] == "raw"


def test_several_outputs_the_user_picks_one(models_folder):
    at = app_with("two_heads")
    output = sidebar_selectbox(at, "Output")
    assert output.options == ["kind (3,)", "size (1,)"] and output.value == 0
    assert len(at.get("progress")) == 3  # the softmax output's classes
    output.set_value(1).run()
    assert not at.exception and not at.error, texts(at.error)
    assert not at.get("progress") and at.metric[-1].label == "value"  # the size, a value
    assert json.loads((models_folder / "two_heads.vizcore.json").read_text())["output"] == 1
    (models_folder / "two_heads.vizcore.json").unlink()


def test_class_names_file_names_the_binary_classes(models_folder):
    at = app_with("pets")
    at.sidebar.get("file_uploader")[0].set_value(("pets.txt", b"cat\ndog\n", "text/plain")).run()
    assert not at.exception and not at.error, texts(at.error)
    assert sorted(bar.split(" — ")[0] for bar in progress_texts(at)) == ["cat", "dog"]


# --- Heatmaps ----------------------------------------------------------------------------------

def test_heatmap_on_an_inner_layer_of_the_nested_base(models_folder):
    at = app_with("pets", "heatmaps")
    assert not at.error, texts(at.error)
    assert at.selectbox(key="heat_class").options == ["negative · 0", "positive · 1"]
    # the automatic layer's why
    assert any("last layer with a 3×3 feature map" in caption for caption in texts(at.caption))
    at.selectbox(key="heat_layer").set_value(INNER_LAYER).run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    assert f"Grad-CAM on {INNER_LAYER}" in image_captions(at)
    assert at.metric[0].label == "Faithfulness"
    at.selectbox(key="heat_class").set_value(1).run()  # the positive class: the same map, opposite sign
    assert not at.exception and any(caption.startswith("positive · ") for caption in image_captions(at))


def test_rank_layers_then_use_the_best(models_folder):
    at = app_with("pets", "heatmaps")
    at.button(key="heat_rank").click().run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    table = at.dataframe[0].value
    scores = list(table["faithfulness"])
    assert 2 <= len(scores) <= 4 and scores == sorted(scores, reverse=True)
    assert all(layer.startswith(BASE + "/") for layer in table["layer"])
    assert all(str(thumbnail).startswith("data:image/png;base64,") for thumbnail in table["map"])
    at.button(key="heat_use_best").click().run()
    assert not at.exception
    assert at.selectbox(key="heat_layer").value == table["layer"][0]
    assert f"Grad-CAM on {table['layer'][0]}" in image_captions(at)


def test_regression_heatmap_explains_what_raises_or_lowers_the_value(models_folder):
    at = app_with("rating", "heatmaps")
    assert not at.error, texts(at.error)
    assert at.radio(key="heat_direction").options == ["What raises it", "What lowers it"]
    assert at.metric[0].label == "value" and not at.get("vega_lite_chart")[:-3]  # a value, not probability bars (the
    # three charts are the trust panel's curves)
    assert any(caption.startswith("value = ") and caption.endswith("what raises it") for caption in image_captions(at))
    at.radio(key="heat_direction").set_value("What lowers it").run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    assert any(caption.endswith("what lowers it") for caption in image_captions(at))


# --- Filters and Dream -------------------------------------------------------------------------

def test_filters_grow_on_an_inner_layer(models_folder):
    at = app_with("pets", "filters")
    layer = f"{BASE}/block_6_expand"
    picker = at.selectbox(key="filters_layer_pets")
    assert "block_6_expand · in mobilenetv2_0.35_96 · 96 filters" in picker.options
    picker.set_value(layer)
    next(group for group in at.get("button_group") if group.key == "filters_count").set_value(4)
    at.number_input(key="filters_steps_classic").set_value(3)
    at.button(key="filters_run").click().run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    frame = at.session_state["filters_result"]["frame"]
    assert frame.done and frame.filters == (0, 1, 2, 3)
    assert f"{layer} · filter 0" in " ".join(image_captions(at))


def test_tiny_grey_filters_are_enlarged_without_blur(models_folder):
    from vizcore.drawing import enlarged
    at = app_with("tiny_grey", "filters")
    next(group for group in at.get("button_group") if group.key == "filters_count").set_value(4)
    at.number_input(key="filters_steps_classic").set_value(3)
    at.button(key="filters_run").click().run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    tiles = at.session_state["filters_result"]["frame"].images
    assert tiles.shape[1:3] == (28, 28)
    assert np.array_equal(tiles[..., 0], tiles[..., 2])  # grey
    assert any("enlarged 4×" in caption for caption in image_captions(at))
    big = enlarged(tiles[0], 4)
    assert big.shape[:2] == (112, 112) and np.array_equal(big[::4, ::4], tiles[0])  # blocks, no blur
    assert np.array_equal(big[3::4, 3::4], tiles[0])


def test_dream_with_the_default_mix_of_inner_layers(models_folder):
    at = app_with("pets", "dream")
    mix = at.multiselect(key="dream_layers_pets").value
    assert mix and all(name.startswith(BASE + "/") for name in mix)
    at.slider(key="dream_octaves").set_value(1)
    at.slider(key="dream_steps").set_value(2)
    at.button(key="dream_run_button").click().run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    run = at.session_state["dream_run"]
    assert run["status"] == "finished" and run["after"].shape == run["before"].shape
    assert not np.array_equal(run["after"], run["before"])


# --- models the pages cannot fully use -----------------------------------------------------------

def test_no_feature_maps_home_still_predicts(models_folder):
    at = app_with("flat")
    assert len(at.get("progress")) == 3 and not at.error
    assert any(NO_FEATURE_MAPS in info.value for info in at.info)


@pytest.mark.parametrize("page", ["filters", "heatmaps", "dream"])
def test_no_feature_maps_the_pages_say_what_is_missing(models_folder, page):
    at = app_with("flat", page)
    assert [error.value for error in at.error if NO_FEATURE_MAPS in error.value], texts(at.error)
    assert not at.get("button") and not at.get("image")  # nothing to run or show


def test_truncated_folder_model_shows_an_error(models_folder):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="model_name").set_value("folder:broken").run()
    assert not at.exception
    assert [error.value for error in at.error] == ["broken.keras is not a .keras model file (it may be truncated or of "
                                                   "another format)."]


@pytest.mark.parametrize("name, content, words", [
    ("mine.keras", b"not a model at all", "is not a .keras model file"),
    ("mine.h5", b"\x89HDF\r\n\x1a\n" + b"\0" * 64, "could not be loaded as a Keras model"),
    ("half.keras", None, "is not a .keras model file"),  # None: the first half of a real model
])
def test_corrupt_upload_shows_an_error(models_folder, name, content, words):
    content = content if content is not None else (models_folder / "rating.keras").read_bytes()[:3000]
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="model_name").set_value("Upload a model file").run()
    assert any("Upload a .keras or .h5" in info.value for info in at.sidebar.info)
    at.sidebar.get("file_uploader")[0].set_value((name, content, "application/octet-stream")).run()
    assert not at.exception, at.exception
    assert any(words in error.value for error in at.error), texts(at.error)


def test_uploaded_model_loads_under_its_own_name(models_folder):
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=TIMEOUT).run()
    at.sidebar.selectbox(key="model_name").set_value("Upload a model file").run()
    data = (models_folder / "rating.keras").read_bytes()
    at.sidebar.get("file_uploader")[0].set_value(("my_rating.keras", data, "application/octet-stream")).run()
    assert not at.exception and not at.error, (at.exception, texts(at.error))
    assert at.metric[0].value == "my_rating" and at.metric[-1].label == "value"
