"""vizcore.cam: every method's maths, CAM = Grad-CAM on Lite0, the photo mosaic, faithfulness, bad
input, the ``cam`` CLI and the Heatmaps page."""
from __future__ import annotations

import json
from concurrent.futures import ThreadPoolExecutor

import keras
import numpy as np
import pytest
import tensorflow as tf
from PIL import Image

import vizcore
from vizcore import cam, drawing
from vizcore.cam import core, score_cam
from vizcore.errors import ImageError, ModelError, RequestError
from vizcore.models import VizModel

from conftest import ROOT, SAMPLES

MOSAIC = [("coffee", "espresso"), ("cat", "Egyptian cat"),          # top-left, top-right
          ("grace_hopper", "military uniform"), ("rocket", "drilling platform")]  # bottom-left, bottom-right


def tiny_photo(height=40, width=52, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (height, width, 3), dtype=np.uint8)


def correlation(a, b) -> float:
    return float(np.corrcoef(np.ravel(a), np.ravel(b))[0, 1])


def reference_acts_grads(vm, image, layer, class_index):
    """Independent of vizcore.cam: A and d(logit)/dA, the logit rebuilt from the dense layer's weights."""
    dense = vm.keras.get_layer("predictions")
    model = keras.Model(vm.keras.inputs[0], [vm.keras.get_layer(layer).output, dense.input])
    inputs = tf.constant(vm.preprocess(vm.resize_for_input(image)))
    with tf.GradientTape() as tape:
        acts, features = model(inputs, training=False)
        logit = (tf.matmul(features, dense.kernel) + dense.bias)[:, class_index]
    return acts.numpy()[0], tape.gradient(logit, acts).numpy()[0]


def normalised(values):
    """ReLU, then min-max to [0, 1]; a flat map is all zeros (the engine's convention)."""
    values = np.maximum(values, 0)
    spread = values.max() - values.min()
    return (values - values.min()) / spread if spread > 0 else np.zeros_like(values)


# --- every method: shape, range, maths -----------------------------------------------------------

@pytest.mark.parametrize("method", list(cam.METHODS))
@pytest.mark.parametrize("options", [{}, {"augment": True}, {"eigen_smooth": True}])
def test_every_method_returns_the_photo_size_in_unit_range(tiny_model, method, options):
    photo = tiny_photo()
    result = cam.heatmap(tiny_model, photo, method=method, **options)
    assert result.heatmap.shape == (40, 52) and result.heatmap.dtype == np.float32
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0
    assert result.grid.shape == (16, 16) and result.layer == "conv_3" and result.method == method
    assert result.label == tiny_model.label(result.class_index)
    probabilities = np.asarray(tiny_model.keras(tiny_model.preprocess(tiny_model.resize_for_input(photo))))[0]
    assert result.class_index == int(np.argmax(probabilities))
    assert result.score == pytest.approx(float(probabilities[result.class_index]), abs=1e-5)


@pytest.mark.parametrize("method", list(cam.METHODS))
def test_every_method_on_lite0_names_the_photo(lite0, grace_hopper, method):
    result = cam.heatmap(lite0, grace_hopper, method=method, top_k=32)
    assert result.label == "military uniform" and result.layer == "top_relu"
    assert result.heatmap.shape == grace_hopper.shape[:2]
    assert 0.0 <= result.heatmap.min() and result.heatmap.max() <= 1.0 and result.heatmap.max() > 0.9


REFERENCES = {  # the papers' equations on (A, dlogit/dA), each (h, w, K)
    "gradcam": lambda a, g: (a * g.mean(axis=(0, 1))).sum(-1),
    "gradcam++": lambda a, g: (a * ((g**2 / np.where(2 * g**2 + a.sum((0, 1)) * g**3 == 0, 1,
                                                      2 * g**2 + a.sum((0, 1)) * g**3)) * np.maximum(g, 0)).sum((0, 1))).sum(-1),
    "layercam": lambda a, g: (a * np.maximum(g, 0)).sum(-1),
}


@pytest.mark.parametrize("method", list(REFERENCES))
@pytest.mark.parametrize("layer", ["conv_1", "conv_2", "conv_3"])
def test_gradient_methods_match_their_equations(tiny_model, method, layer):
    photo, informative = tiny_photo(seed=3), 0
    for class_index in range(4):
        result = cam.heatmap(tiny_model, photo, method=method, layer=layer, class_index=class_index)
        acts, grads = reference_acts_grads(tiny_model, photo, layer, class_index)
        np.testing.assert_allclose(result.grid, normalised(REFERENCES[method](acts, grads)), atol=1e-4)
        informative += result.grid.max() > 0
    assert informative >= 2  # not only all-zero maps


def test_score_cam_weights_are_masked_photo_probabilities(tiny_model):
    """Score-CAM, Eq. 8: weight_k = p_c(X ∘ normalised upsampled A_k); batched == one by one."""
    photo = tiny_photo(seed=4)
    inputs = tf.constant(tiny_model.preprocess(tiny_model.resize_for_input(photo)))
    acts = keras.Model(tiny_model.keras.inputs[0], tiny_model.keras.get_layer("conv_3").output)(inputs)
    masks = tf.image.resize(tf.transpose(acts, (3, 1, 2, 0)), (32, 32), method="bilinear")
    low, high = tf.reduce_min(masks, (1, 2, 3), keepdims=True), tf.reduce_max(masks, (1, 2, 3), keepdims=True)
    masked = inputs * tf.math.divide_no_nan(masks - low, high - low)
    weights = np.asarray(tiny_model.keras(masked))[:, 1]
    expected = normalised((acts.numpy()[0] * weights).sum(-1))
    result = cam.heatmap(tiny_model, photo, method="scorecam", class_index=1)
    np.testing.assert_allclose(result.grid, expected, atol=1e-5)
    probe = score_cam.masked_scores(cam.compiled_view(tiny_model, "conv_3"))
    saved, probe._batch_size = probe.batch_size(), 1
    try:
        one_by_one = cam.heatmap(tiny_model, photo, method="scorecam", class_index=1)
    finally:
        probe._batch_size = saved
    np.testing.assert_allclose(one_by_one.grid, result.grid, atol=1e-6)


def test_faster_score_cam_keeps_the_channels_of_highest_variance(tiny_model):
    photo = tiny_photo(seed=5)
    acts, _ = reference_acts_grads(tiny_model, photo, "conv_3", 0)
    busiest = int(np.argmax(acts.reshape(-1, acts.shape[-1]).var(axis=0)))
    single = cam.heatmap(tiny_model, photo, method="scorecam", class_index=0, top_k=1)
    np.testing.assert_allclose(single.grid, normalised(acts[..., busiest]), atol=1e-5)
    full = cam.heatmap(tiny_model, photo, method="scorecam", class_index=0)
    np.testing.assert_allclose(cam.heatmap(tiny_model, photo, method="scorecam", class_index=0, top_k=10).grid,
                               full.grid, atol=1e-6)  # top_k = every channel is full Score-CAM


def test_score_cam_batches_fit_the_memory_budget(lite0):
    batch = score_cam.masked_scores(cam.compiled_view(lite0, "top_relu")).batch_size()
    assert 1 <= batch <= score_cam.SCORE_CAM_MAX_BATCH
    per_copy = 4 * score_cam.LIVE_TENSORS * 112 * 112 * 96  # Lite0's largest activation at 224 px
    assert batch * per_copy <= score_cam.SCORE_CAM_MEMORY_BYTES


def test_eigen_smoothing_recovers_a_rank_one_map():
    rng = np.random.default_rng(0)
    pattern = rng.random((7, 7))
    weighted = pattern[..., None] * rng.random(64)[None, None, :]
    projection = core._principal_projection(weighted, pattern)
    assert correlation(projection, pattern) > 0.9999  # and the sign follows the reference
    tall = pattern.repeat(4, 0).repeat(4, 1)[..., None] * rng.random(8)  # more locations than channels
    assert correlation(core._principal_projection(tall, tall.sum(-1)), tall.sum(-1)) > 0.9999


def test_augmentation_undoes_its_flips():
    grid = np.arange(12, dtype=np.float32).reshape(3, 4)
    maps = np.stack([grid[:, ::-1] if flip else grid for flip in cam.AUGMENT_FLIPS for _ in cam.AUGMENT_BRIGHTNESS])
    np.testing.assert_allclose(core._merged(maps, augment=True), grid / grid.max())
    variants = core._variants(np.full((4, 6, 3), 100, np.uint8), augment=True)
    assert len(variants) == len(cam.AUGMENT_FLIPS) * len(cam.AUGMENT_BRIGHTNESS)
    assert sorted({int(v[0, 0, 0]) for v in variants}) == sorted({round(100 * b) for b in cam.AUGMENT_BRIGHTNESS})


def test_smoothed_maps_stay_on_the_subject(lite0, grace_hopper):
    plain = cam.heatmap(lite0, grace_hopper)
    augmented = cam.heatmap(lite0, grace_hopper, augment=True)
    assert augmented.class_index == plain.class_index and augmented.score == pytest.approx(plain.score)
    assert correlation(augmented.grid, plain.grid) > 0.9


# --- correctness on the bundled model --------------------------------------------------------------

@pytest.mark.parametrize("class_index", [None, 465, 834, 1])  # top-1, two runners-up, an absent class
def test_grad_cam_on_the_logit_equals_cam_from_the_dense_weights(lite0, grace_hopper, class_index):
    """Lite0: top_relu → avg_pool → dense, so Grad-CAM = CAM (Zhou et al., 2016): ReLU(Σ_k A_k w_k,c)."""
    result = cam.heatmap(lite0, grace_hopper, class_index=class_index, layer="top_relu")
    acts = np.asarray(lite0.extractor(["top_relu"])([lite0.preprocess(lite0.resize_for_input(grace_hopper))]))[0]
    weights = lite0.keras.get_layer("predictions").kernel.numpy()[:, result.class_index]
    assert correlation(result.grid, np.maximum(acts @ weights, 0)) >= 0.999


def mosaic(samples, names) -> np.ndarray:
    tiles = [np.asarray(Image.fromarray(samples[name]).resize((224, 224), Image.Resampling.BICUBIC)) for name in names]
    return np.concatenate([np.concatenate(tiles[:2], axis=1), np.concatenate(tiles[2:], axis=1)], axis=0)


@pytest.mark.parametrize("reverse", [False, True])
def test_each_photos_class_peaks_in_its_quadrant_of_a_mosaic(lite0, samples, reverse):
    layout = MOSAIC[::-1] if reverse else MOSAIC
    image = mosaic(samples, [name for name, _ in layout])
    labels = list(lite0.labels)
    for quadrant, (name, label) in enumerate(layout):
        assert lite0.predict(samples[name], top=1)[0].label == label
        heat = cam.heatmap(lite0, image, class_index=labels.index(label)).heatmap
        row, col = np.unravel_index(np.argmax(heat), heat.shape)
        assert (row >= 224) * 2 + (col >= 224) == quadrant, f"{label}: peak at {(row, col)}"
        means = [heat[r:r + 224, c:c + 224].mean() for r in (0, 224) for c in (0, 224)]
        assert int(np.argmax(means)) == quadrant, f"{label}: quadrant means {np.round(means, 2)}"


def test_the_shared_model_is_never_mutated(lite0, grace_hopper):
    before = np.asarray(lite0.keras(lite0.preprocess(lite0.resize_for_input(grace_hopper))))
    cam.heatmap(lite0, grace_hopper, method="gradcam++")
    assert lite0.keras.get_layer("predictions").activation is keras.activations.softmax
    np.testing.assert_allclose(np.asarray(lite0.keras(lite0.preprocess(lite0.resize_for_input(grace_hopper)))), before)
    assert before.sum() == pytest.approx(1.0, abs=1e-4)


def test_views_are_built_once_and_shared_between_threads(tiny_model):
    photo = tiny_photo(seed=6)
    with ThreadPoolExecutor(4) as pool:
        results = list(pool.map(lambda _: cam.heatmap(tiny_model, photo, layer="conv_2"), range(8)))
    for result in results[1:]:
        np.testing.assert_array_equal(result.heatmap, results[0].heatmap)
    assert len([layer for layer in core._VIEWS.entries(tiny_model) if layer == "conv_2"]) == 1


# --- overlay ------------------------------------------------------------------------------------

def test_overlay_blends_the_colormap_at_the_given_opacity():
    photo = tiny_photo(10, 12)
    heat = np.linspace(0, 1, 120, dtype=np.float32).reshape(10, 12)
    np.testing.assert_array_equal(drawing.overlay(photo, heat, alpha=0.0), photo)
    jet = drawing.overlay(photo, heat, cmap="jet", alpha=1.0)
    np.testing.assert_array_equal(jet, drawing.colorize(heat, "jet"))
    assert tuple(jet[0, 0]) == (0, 0, 128) and tuple(jet[-1, -1]) == (128, 0, 0)  # jet: dark blue → dark red
    half = drawing.overlay(photo, heat, cmap="gray", alpha=0.5).astype(int)
    assert np.abs(half - (photo / 2 + heat[..., None] * 127.5)).max() <= 1
    small = drawing.overlay(photo, heat[::2, ::2], cmap="viridis")  # a map of another size is resized
    assert small.shape == photo.shape and small.dtype == np.uint8


@pytest.mark.parametrize("kwargs, message", [
    ({"cmap": "no-such-map"}, "Unknown colormap 'no-such-map'"),
    ({"alpha": 1.5}, "alpha (opacity) must be between 0 and 1, got 1.5"),
    ({"alpha": -0.1}, "got -0.1"),
])
def test_overlay_refuses_bad_arguments(kwargs, message):
    with pytest.raises(RequestError, match=message.replace("(", r"\(").replace(")", r"\)")):
        drawing.overlay(tiny_photo(), np.zeros((40, 52)), **kwargs)


# --- faithfulness -------------------------------------------------------------------------------

def test_faithfulness_prefers_the_map_to_its_inverse_in_one_forward_pass(lite0, grace_hopper, monkeypatch):
    result = cam.heatmap(lite0, grace_hopper)
    view = cam.compiled_view(lite0, cam.default_layer(lite0))
    calls, forward = [], view.class_probabilities
    monkeypatch.setattr(view, "class_probabilities", lambda batch, *rest: calls.append(batch.shape[0]) or forward(batch, *rest))
    trust = cam.faithfulness(lite0, result)
    expected_batch = 1 + len(cam.FAITHFULNESS_FRACTIONS) * (1 + cam.FAITHFULNESS_RANDOM_DRAWS)
    assert calls == [expected_batch]
    assert trust.probability == pytest.approx(result.score, abs=1e-4)
    inverse = cam.faithfulness(lite0, cam.given_map(lite0, grace_hopper, 1.0 - result.heatmap, result.class_index))
    assert trust.score > 0.2 and trust.score > inverse.score + 0.2
    assert len(trust.cam_drops) == len(trust.random_drops) == len(trust.fractions)
    assert max(trust.cam_drops) > 0.5  # hiding Grace Hopper's uniform hurts "military uniform"


def test_faithfulness_stays_in_its_range_on_noise(tiny_model):
    photo = tiny_photo(seed=7)
    for seed in range(3):
        heatmap = np.random.default_rng(seed).random((40, 52)).astype(np.float32)
        trust = cam.faithfulness(tiny_model, cam.given_map(tiny_model, photo, heatmap, 1), seed=seed)
        assert -1.0 <= trust.score <= 1.0 and 0.0 <= trust.probability <= 1.0


@pytest.mark.parametrize("kwargs, message", [
    ({"fractions": (0.0, 0.1)}, "fractions must be shares strictly between 0 and 1"),
    ({"random_draws": 0}, "random_draws must be at least 1"),
    ({"class_index": None}, "A given map needs the class it explains"),
    ({"heatmap": np.zeros((4, 4, 3))}, "A heatmap is a finite 2-D array"),
    ({"result": "not a result"}, "A trust metric takes the CamResult of a map"),
])
def test_faithfulness_refuses_bad_arguments(tiny_model, kwargs, message):
    arguments = {"heatmap": np.zeros((40, 52)), "class_index": 1, **kwargs}
    heatmap, class_index, given = arguments.pop("heatmap"), arguments.pop("class_index"), arguments.pop("result", None)
    with pytest.raises(RequestError, match=message):
        cam.faithfulness(tiny_model, given or cam.given_map(tiny_model, tiny_photo(), heatmap, class_index), **arguments)


# --- bad input -----------------------------------------------------------------------------------

@pytest.fixture(scope="module")
def flat_model():
    """A classifier whose last 4-D layer is 1×1 (global pooling with keepdims) after an 8×8 conv."""
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, padding="same", name="conv")(inputs)
    x = keras.layers.GlobalAveragePooling2D(keepdims=True, name="pooled")(x)
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(keras.layers.Flatten()(x))
    return VizModel("flat", keras.Model(inputs, outputs), (8, 8), ("a", "b", "c"), "unit")


@pytest.fixture(scope="module")
def segmenter():
    """A model whose output is an image, not a class vector."""
    inputs = keras.Input((None, None, 3))
    outputs = keras.layers.Conv2D(2, 3, padding="same", name="mask")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
    return VizModel("segmenter", keras.Model(inputs, outputs), (16, 16), (), "unit")


@pytest.mark.parametrize("kwargs, error, message", [
    ({"class_index": 4}, RequestError, "class index 4 out of range: tiny has 4 classes (0 to 3)"),
    ({"class_index": -1}, RequestError, "class index -1 out of range"),
    ({"class_index": 1.5}, RequestError, "class index 1.5 out of range"),
    ({"class_index": True}, RequestError, "class index True out of range"),
    ({"layer": "pool"}, RequestError, "Layer 'pool' of tiny has no spatial (4-D) output"),
    ({"layer": "predictions"}, RequestError, "has no spatial (4-D) output"),
    ({"layer": "conv_9"}, RequestError, "tiny has no layer 'conv_9'. Try one of: conv_1, conv_2, conv_3"),
    ({"method": "guided"}, RequestError, "Unknown method 'guided': use one of gradcam, gradcam++, scorecam, layercam"),
    ({"method": "scorecam", "top_k": 0}, RequestError, "top_k must be a positive number of channels"),
    ({"image": np.zeros((40, 52, 4), np.uint8)}, ImageError, "Expected an RGB image of shape (H, W, 3), got shape (40, 52, 4)"),
    ({"image": np.zeros((40, 52, 3), np.float32)}, ImageError, "Expected uint8 pixels (0–255), got float32"),
    ({"image": np.zeros((4, 52, 3), np.uint8)}, ImageError, "The image is only 52×4 pixels"),
    ({"image": "photo.jpg"}, ImageError, "Expected an RGB image"),
])
def test_bad_requests_get_clear_messages(tiny_model, kwargs, error, message):
    arguments = {"image": tiny_photo(), **kwargs}
    with pytest.raises(error) as raised:
        cam.heatmap(tiny_model, arguments.pop("image"), **arguments)
    assert message in str(raised.value)


def test_a_layer_without_spatial_extent_is_refused_and_skipped(flat_model):
    with pytest.raises(RequestError, match=r"Layer 'pooled' of flat has no spatial extent \(1×1\)"):
        cam.heatmap(flat_model, tiny_photo(8, 8), layer="pooled")
    assert cam.heatmap(flat_model, tiny_photo(8, 8)).layer == "conv"  # the default skips the 1×1 layer


def test_a_model_without_a_class_vector_is_refused(segmenter):
    with pytest.raises(ModelError, match="segmenter does not output a class vector .* no class to explain"):
        cam.heatmap(segmenter, tiny_photo())


def test_grayscale_and_huge_photos_work(tiny_model):
    gray = tiny_photo()[..., 0]
    assert cam.heatmap(tiny_model, gray).heatmap.shape == (40, 52)
    assert cam.heatmap(tiny_model, gray[..., None]).heatmap.shape == (40, 52)
    huge = np.zeros((3000, 2000, 3), np.uint8)
    huge[1000:2000, 500:1500] = 200
    result = cam.heatmap(tiny_model, huge)
    assert result.heatmap.shape == (3000, 2000) and 0.0 <= result.heatmap.min() <= result.heatmap.max() <= 1.0


# --- CLI --------------------------------------------------------------------------------------

def test_cli_writes_the_overlay_and_the_heatmap(tmp_path, capsys):
    from vizcore.cli import main
    out, heat = tmp_path / "overlay.png", tmp_path / "heat.npy"
    code = main(["cam", "efficientnet_lite0", str(SAMPLES / "coffee.jpg"), "--method", "layercam",
                 "--cmap", "inferno", "--alpha", "0.5", "--out", str(out), "--heatmap", str(heat), "--json"])
    assert code == 0
    report = json.loads(capsys.readouterr().out)
    assert report["label"] == "espresso" and report["class_index"] == 967 and report["layer"] == "top_relu"
    photo = vizcore.load_image(SAMPLES / "coffee.jpg")
    assert np.asarray(Image.open(out)).shape == photo.shape
    saved = np.load(heat)
    assert saved.shape == photo.shape[:2] and saved.dtype == np.float32 and saved.max() <= 1.0
    assert -1.0 <= report["faithfulness"] <= 1.0


@pytest.mark.parametrize("arguments, message", [
    (["--class", "1000"], "class index 1000 out of range: efficientnet_lite0 has 1000 classes"),
    (["--layer", "avg_pool"], "Layer 'avg_pool' of efficientnet_lite0 has no spatial (4-D) output"),
    (["--cmap", "rainbowz"], "Unknown colormap 'rainbowz'"),
    (["--alpha", "3"], "alpha (opacity) must be between 0 and 1"),
    (["--out", "/no/such/folder/x.png"], "the folder '/no/such/folder' does not exist"),
    (["--out", "overlay.jpg"], "'overlay.jpg' should end in .png"),
])
def test_cli_bad_input_is_one_line_and_exit_2(tmp_path, capsys, arguments, message):
    from vizcore.cli import main
    argv = ["cam", "efficientnet_lite0", str(SAMPLES / "cat.jpg"), "--out", str(tmp_path / "o.png"), *arguments]
    assert main(argv) == 2
    error = capsys.readouterr().err
    assert message in error and error.count("\n") == 1


# --- the Heatmaps page ----------------------------------------------------------------------------

@pytest.fixture
def page():
    import streamlit as st
    from streamlit.testing.v1 import AppTest
    st.cache_data.clear()
    at = AppTest.from_file(str(ROOT / "app.py"), default_timeout=300)
    at.run()
    return at.switch_page("pages/heatmaps.py").run()


def test_page_explains_the_top_class_and_redraws_without_recomputing(page, monkeypatch):
    assert not page.exception, page.exception
    assert page.selectbox(key="heat_class").value == 652  # military uniform, the top-1
    assert page.selectbox(key="heat_layer").value == ""  # automatic: top_relu
    assert page.metric[0].label == "Faithfulness" and float(page.metric[0].value) > 0
    assert len(page.get("download_button")) == 1
    calls = []
    compute = cam.explain
    monkeypatch.setattr(cam, "explain", lambda vm, request: calls.append(request) or compute(vm, request))
    page.selectbox(key="heat_cmap").set_value("inferno").run()
    page.slider(key="heat_alpha").set_value(0.7).run()
    assert not page.exception and calls == []  # colormap and opacity only re-blend the cached map
    page.selectbox(key="heat_class").set_value(834).run()  # "suit"
    assert not page.exception and [request.class_index for request in calls] == [834]
    page.selectbox(key="heat_sample").set_value("coffee").run()
    assert page.selectbox(key="heat_class").value == 967  # a new photo: back to its top-1, espresso


def test_every_method_is_offered_by_the_cli_and_the_page(page, capsys):
    from vizcore.cli import build_parser
    with pytest.raises(SystemExit):
        build_parser().parse_args(["cam", "--help"])
    cli_help = " ".join(capsys.readouterr().out.split())
    for name, method in cam.METHODS.items():
        assert name in cli_help  # the CLI's help names it ...
        args = build_parser().parse_args(["cam", "m", "p.jpg", "--method", name, "--out", "o.png"])
        assert core.checked_method(args.method) is method  # ... and the CLI takes it
    assert page.selectbox(key="heat_method").options == [m.title for m in cam.METHODS.values()]


def test_page_compares_every_method(page):
    page.radio(key="heat_view").set_value("Compare methods").run()
    assert not page.exception, page.exception
    labels = [m.label for m in page.metric]
    assert labels == [f"{cam.METHODS[m].title} · faithfulness" for m in cam.METHODS]
    assert any("Most faithful on this photo" in m.value for m in page.markdown)


def test_page_computes_on_an_early_layer_too(page):
    page.selectbox(key="heat_layer").set_value("block3a_expand_relu").run()
    assert not page.exception and not page.error
    assert page.metric[0].label == "Faithfulness"
