"""Why this class? attribution to channels: completeness on GAP → Dense heads, locality on a mosaic,
contrast as a difference, neuron groups, the panel, the CLI, and bad input refused in words."""
from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
from PIL import Image

from vizcore import RequestError, neuron_groups, why, why_drawing
from vizcore.cli import main

MOSAIC = ("grace_hopper", "cat", "coffee", "rocket")  # quadrants: top left, top right, bottom left, bottom right


def random_photo(side: int = 32, seed: int = 0) -> np.ndarray:
    return np.random.default_rng(seed).integers(0, 256, (side, side, 3), np.uint8)


@pytest.mark.parametrize("model, photo", [("tiny_model", "random"), ("lite0", "grace_hopper")])
def test_contributions_plus_bias_are_the_logit_on_a_gap_dense_head(request, model, photo, samples):
    vm = request.getfixturevalue(model)
    image = random_photo() if photo == "random" else samples[photo]
    for class_index in (None, 1):
        result = why.explain(vm, image, class_index=class_index)
        assert result.exact and result.bias is not None
        assert abs(result.contributions.sum() + result.bias - result.logit) < 1e-4
        assert "exactly" in result.note


def test_gap_dense_contribution_is_weight_times_pooled_activation(tiny_model):
    result = why.explain(tiny_model, random_photo(), class_index=2)
    kernel = tiny_model.keras.get_layer("predictions").kernel.numpy()
    expected = kernel[:, 2] * result.activations.mean(axis=(0, 1))
    np.testing.assert_allclose(result.contributions, expected, rtol=1e-4, atol=1e-6)


def test_a_layer_not_pooled_into_the_logits_is_an_estimate(tiny_model):
    result = why.explain(tiny_model, random_photo(), layer="conv_2")
    assert not result.exact and result.bias is None
    assert "estimate" in result.note


def test_channels_best_first_with_shares_and_peaks_in_photo_pixels(lite0, samples):
    result = why.explain(lite0, samples["coffee"], top=5)
    channels = result.channels
    assert len(channels) == 5 and result.label == "espresso"
    assert [c.contribution for c in channels] == sorted((c.contribution for c in channels), reverse=True)
    assert channels[0].contribution == pytest.approx(result.contributions.max())
    assert abs(np.sum(np.abs(result.contributions)) * channels[0].share - channels[0].contribution) < 1e-9
    height, width = samples["coffee"].shape[:2]
    assert all(0 <= c.peak[0] < height and 0 <= c.peak[1] < width for c in channels)
    assert all(c.contribution < 0 for c in result.negative)
    assert result.activation_map(channels[0].channel).shape == (height, width)
    assert result.counted_map(channels[0].channel).shape == (height, width)


# --- where a channel counted ---------------------------------------------------------------------


def dense_kernel(vm) -> np.ndarray:
    return vm.keras.get_layer("predictions").kernel.numpy().astype(np.float64)


def tiny_gradients_at_conv_2(vm, image: np.ndarray, class_index: int) -> tuple[np.ndarray, np.ndarray]:
    """conv_2's activations and ∂logit/∂activations by a tape through the tiny model's own layers
    (conv_3, the mean, the Dense before its softmax), apart from the engine's compiled view."""
    import keras
    import tensorflow as tf

    model = vm.keras
    acts = keras.Model(model.input, model.get_layer("conv_2").output)(vm.preprocess(vm.resize_for_input(image)))
    with tf.GradientTape() as tape:
        tape.watch(acts)
        pooled = tf.reduce_mean(model.get_layer("conv_3")(acts), axis=(1, 2))
        dense = model.get_layer("predictions")
        logit = (tf.matmul(pooled, dense.kernel) + dense.bias)[0, class_index]
    return acts.numpy()[0].astype(np.float64), tape.gradient(logit, acts).numpy()[0].astype(np.float64)


@pytest.mark.parametrize("model, layer", [("tiny_model", None), ("tiny_model", "conv_2"),
                                          ("lite0", None), ("lite0", "block6d_add")])
def test_a_channels_contribution_map_sums_to_its_contribution(request, model, layer, samples):
    vm = request.getfixturevalue(model)
    image = random_photo() if model == "tiny_model" else samples["coffee"]
    result = why.explain(vm, image, class_index=1, layer=layer)
    acts = result.activations.astype(np.float64)
    if result.exact:  # GAP → Dense: the gradient is W[k, class] / (h·w) at every position
        reference = acts * dense_kernel(vm)[:, 1] / (acts.shape[0] * acts.shape[1])
    elif model == "tiny_model":
        acts, gradients = tiny_gradients_at_conv_2(vm, image, 1)
        reference = acts * gradients
    else:
        reference = acts * result.gradients.astype(np.float64)
        assert not np.allclose(result.gradients, result.gradients[:1, :1]), "the gradient varies over the grid"
    assert result.exact == (layer is None)
    for k in range(acts.shape[-1]):
        grid = result.counted_grid(k)
        np.testing.assert_allclose(grid, reference[..., k], rtol=1e-4, atol=1e-7 * np.abs(reference).max())
        assert grid.sum() == pytest.approx(result.contributions[k], rel=1e-9, abs=1e-12)


def test_a_channel_peaks_where_it_counted_and_keeps_where_it_fired(lite0, samples):
    """On a layer whose gradient varies, positive channels peak at their contribution map's maximum,
    negative ones at its minimum; the activation's peak stays in ``fired_at``."""
    result = why.explain(lite0, samples["coffee"], layer="block6d_add")
    channels, negative = result.channels, result.negative
    assert negative, "block6d_add has channels that take from espresso's score"

    def pixel(grid, flat_index):
        cell = np.unravel_index(flat_index, grid.shape)
        return tuple(min(int((c + 0.5) * p / g), p - 1) for c, g, p in zip(cell, grid.shape, result.photo_size))

    for channel in channels + negative:
        counted = result.activations[..., channel.channel].astype(np.float64) * result.gradients[..., channel.channel]
        best = np.argmax(counted) if channel.contribution > 0 else np.argmin(counted)
        assert channel.peak == pixel(counted, best)
        assert channel.fired_at == pixel(counted, np.argmax(result.activations[..., channel.channel]))
        drawn = result.counted_map(channel.channel)
        assert drawn.min() >= 0 and drawn[channel.peak] > 0.9  # resized bilinearly: the peak's cell centre near 1
    assert any(c.peak != c.fired_at for c in channels), "somewhere the two peaks part"


def test_on_the_gap_dense_layer_a_channel_counts_where_it_fires(lite0, samples):
    """There the gradient is the same at every position: the maps differ by a factor only."""
    result = why.explain(lite0, samples["grace_hopper"])
    assert result.exact
    for channel in result.channels + result.negative:
        assert channel.peak == channel.fired_at
        np.testing.assert_allclose(result.counted_map(channel.channel), result.activation_map(channel.channel),
                                   atol=1e-5)


def mosaic_of(samples) -> tuple[list[np.ndarray], np.ndarray]:
    """The MOSAIC photos at the model's own 224 px, tiled 2 × 2 into 448 px."""
    photos = [np.asarray(Image.fromarray(samples[name]).resize((224, 224))) for name in MOSAIC]
    return photos, np.concatenate([np.concatenate(photos[:2], axis=1), np.concatenate(photos[2:], axis=1)], axis=0)


def quadrant_of(pixel: tuple[int, int], size: tuple[int, int]) -> int:
    return 2 * int(pixel[0] >= size[0] // 2) + int(pixel[1] >= size[1] // 2)


@pytest.mark.parametrize("layer", ["block6b_add", "block6d_add"])
def test_top_channels_count_in_their_photos_quadrant_where_they_fired_elsewhere(lite0, samples, layer):
    """Each quadrant's photo's top-1 class explained on the whole mosaic (run at 448: the model takes any
    size). Measured with the peak where a channel counted, 5–8 of 8 top channels peak in the class's own
    photo for every class (block6b_add 7, 7, 6, 8; block6d_add 5, 8, 7, 7); with the peak where it fired,
    only 0–5 (3, 4, 3, 2; 5, 4, 1, 2)."""
    photos, mosaic = mosaic_of(samples)
    wide = dataclasses.replace(lite0, input_size=(448, 448))
    counted, fired = [], []
    for quadrant, photo in enumerate(photos):
        result = why.explain(wide, mosaic, class_index=lite0.predict(photo, top=1)[0].index, layer=layer, top=8)
        counted.append(sum(quadrant_of(c.peak, mosaic.shape[:2]) == quadrant for c in result.channels))
        fired.append(sum(quadrant_of(c.fired_at, mosaic.shape[:2]) == quadrant for c in result.channels))
    assert sum(count >= 5 for count in counted) >= 3, (layer, counted)
    assert sum(count >= 5 for count in fired) < 3, (layer, fired)  # where it fired: not where it counted


def test_top_channels_fire_in_their_photos_quadrant_of_a_mosaic(lite0, samples):
    """Each quadrant's photo at the model's own 224 px (the model takes any size: run at 448)."""
    photos, mosaic = mosaic_of(samples)
    wide = dataclasses.replace(lite0, input_size=(448, 448))
    for quadrant, photo in enumerate(photos):
        class_index = lite0.predict(photo, top=1)[0].index
        result = why.explain(wide, mosaic, class_index=class_index, top=8)
        half = result.activations.shape[0] // 2
        fired = np.maximum(result.activations * result.gradients, 0)[..., [c.channel for c in result.channels]]
        fired = fired.sum(axis=-1)
        shares = np.array([fired[:half, :half].sum(), fired[:half, half:].sum(),
                           fired[half:, :half].sum(), fired[half:, half:].sum()]) / fired.sum()
        assert shares[quadrant] > 0.5 and np.argmax(shares) == quadrant, (MOSAIC[quadrant], shares.round(2))


def test_contrast_is_the_difference_of_the_two_attributions(lite0, samples):
    image = samples["coffee"]
    espresso, mug = 967, 504
    first = why.explain(lite0, image, class_index=espresso)
    second = why.explain(lite0, image, class_index=mug)
    contrast = why.explain(lite0, image, class_index=espresso, contrast=mug)
    np.testing.assert_allclose(contrast.contributions, first.contributions - second.contributions, atol=1e-6)
    assert contrast.logit == pytest.approx(first.logit - second.logit, abs=1e-5)
    assert contrast.bias == pytest.approx(first.bias - second.bias)
    assert abs(contrast.contributions.sum() + contrast.bias - contrast.logit) < 1e-4
    assert (contrast.contrast_index, contrast.contrast_label) == (mug, "coffee mug")


def test_neuron_groups_are_non_negative_and_share_the_score(tiny_model):
    result = why.explain(tiny_model, random_photo(), class_index=0)
    groups = neuron_groups.groups(result, 3)
    assert len(groups) == 3
    assert [g.contribution for g in groups] == sorted((g.contribution for g in groups), reverse=True)
    assert all(g.channels.min() >= 0 and g.grid.min() >= 0 and g.grid.shape == (16, 16) for g in groups)
    assert sum(abs(g.share) for g in groups) == pytest.approx(1.0)
    assert neuron_groups.group_map(result, groups[0]).shape == (32, 32)


def test_nmf_reconstructs_a_non_negative_low_rank_matrix():
    rng = np.random.default_rng(1)
    values = rng.uniform(0, 1, (40, 3)) @ rng.uniform(0, 1, (3, 20))
    where, what = neuron_groups.nmf(values, 3, steps=500)
    assert where.min() >= 0 and what.min() >= 0
    assert np.linalg.norm(values - where @ what) / np.linalg.norm(values) < 0.05


def test_panel_is_an_rgb_image(tiny_model):
    image = random_photo(64)
    result = why.explain(tiny_model, image, top=2)
    features = {c.channel: random_photo(16, c.channel) for c in result.channels}
    panel = why_drawing.panel(result, image, features=features, examples={result.channels[0].channel: [random_photo(8)]})
    assert panel.dtype == np.uint8 and panel.ndim == 3 and panel.shape[2] == 3


@pytest.mark.parametrize("options, words", [
    (dict(class_index=4), "class index 4 out of range"),
    (dict(class_index=-2), "out of range"),
    (dict(contrast=9), "class index 9 out of range"),
    (dict(class_index=1, contrast=1), "is the class explained"),
    (dict(top=0), "top must be between 1 and 10"),
    (dict(top=11), "conv_3 has 10 channels"),
    (dict(top=2.5), "top must be a whole number"),
    (dict(layer="pool"), "no spatial (4-D) output"),
    (dict(layer="nope"), "has no layer 'nope'"),
])
def test_bad_requests_are_refused_in_words(tiny_model, options, words):
    with pytest.raises(RequestError, match=words.replace("(", r"\(").replace(")", r"\)")):
        why.explain(tiny_model, random_photo(), **options)


def test_a_layer_of_one_by_one_is_refused():
    import keras

    from vizcore.models import VizModel

    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(inputs)
    x = keras.layers.Conv2D(5, 6, activation="relu", name="squeeze")(x)  # 1×1
    outputs = keras.layers.Dense(3, activation="softmax", name="predictions")(keras.layers.Flatten()(x))
    vm = VizModel("squeezed", keras.Model(inputs, outputs), (8, 8), ("a", "b", "c"), "unit")
    with pytest.raises(RequestError, match="no spatial extent"):
        why.explain(vm, random_photo(8), layer="squeeze")
    assert why.explain(vm, random_photo(8), layer="conv").exact is False


def test_groups_count_is_checked(tiny_model):
    result = why.explain(tiny_model, random_photo())
    with pytest.raises(RequestError, match="count"):
        neuron_groups.groups(result, 0)


# --- the CLI -----------------------------------------------------------------------------------------

def test_cli_json_gives_the_engines_numbers(lite0, samples, capsys, tmp_path):
    from conftest import SAMPLES
    assert main(["why", "efficientnet_lite0", str(SAMPLES / "coffee.jpg"), "--top", "3", "--vs", "coffee mug",
                 "--json"]) == 0
    payload = json.loads(capsys.readouterr().out)
    expected = why.explain(lite0, samples["coffee"], contrast=504, top=3)
    assert payload["class_index"] == 967 and payload["contrast_index"] == 504 and payload["layer"] == "top_relu"
    assert [row["channel"] for row in payload["channels"]] == [c.channel for c in expected.channels]
    assert payload["logit"] == pytest.approx(expected.logit, abs=1e-5)
    assert payload["bias"] == pytest.approx(expected.bias, abs=1e-5)
    assert all(row["examples"] for row in payload["channels"])
    for row, channel in zip(payload["channels"] + payload["negative"], expected.channels + expected.negative):
        assert (tuple(row["peak"]), tuple(row["fired_at"])) == (channel.peak, channel.fired_at)
        counted = np.array(row["counted"])  # the contribution map on top_relu's 7 × 7 grid, summing to the contribution
        assert counted.shape == (7, 7) and counted.sum() == pytest.approx(channel.contribution, rel=1e-5, abs=1e-6)


def test_cli_writes_the_panel(tmp_path, capsys):
    from conftest import SAMPLES
    out = tmp_path / "panel.png"
    assert main(["why", "efficientnet_lite0", str(SAMPLES / "cat.jpg"), "--top", "2", "--steps", "2",
                 "--out", str(out)]) == 0
    assert Image.open(out).size[0] > 300
    assert "Egyptian cat" in capsys.readouterr().out


@pytest.mark.parametrize("extra, words", [
    (["--top", "0"], "top must be between 1 and 1280"),
    (["--class", "5000"], "class index 5000 out of range"),
    (["--layer", "predictions"], "no spatial (4-D) output"),
    (["--images", "/no/such/folder"], "No folder at"),
    (["--out", "panel.jpg"], "should end in .png"),
])
def test_cli_bad_input_is_one_line_and_exit_2(capsys, extra, words):
    from conftest import SAMPLES
    assert main(["why", "efficientnet_lite0", str(SAMPLES / "cat.jpg"), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert words in error and len(error.splitlines()) == 1


@pytest.mark.parametrize("extra, words", [
    (["--images", "/no/such/folder"], "No folder at"),
    (["--audit", "/no/such/audit"], "/no/such/audit"),
    (["--patches", "0"], "--patches must be at least 1"),
])
def test_cli_folders_and_counts_are_checked_before_the_model_loads(monkeypatch, capsys, extra, words):
    from conftest import SAMPLES
    from own_models import refuse_model_loading

    from vizcore.commands import why as command

    refuse_model_loading(monkeypatch, command)
    assert main(["why", "efficientnet_lite0", str(SAMPLES / "cat.jpg"), *extra]) == 2
    error = capsys.readouterr().err.strip()
    assert words in error and len(error.splitlines()) == 1


# --- the page (AppTest) ------------------------------------------------------------------------------

def why_page(steps: int = 2, features: bool = True, **query):
    """A fresh session whose first run is the Why page, its feature pictures at ``steps`` steps (or off)."""
    from pathlib import Path

    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(Path(__file__).resolve().parent.parent / "app.py"), default_timeout=600)
    at.query_params.update(query)
    at.session_state["why_steps"] = steps
    at.session_state["why_show_features"] = features
    at.switch_page("pages/why.py")
    return at.run()


def shares(at) -> list[str]:
    return [bar.proto.text for bar in at.get("progress") if "of the score" in bar.proto.text]


def test_page_shows_a_row_per_top_channel_with_the_engines_numbers(lite0, samples):
    at = why_page(photo="coffee")
    assert not at.exception and not at.error and not at.warning, (at.exception, at.error, at.warning)
    assert at.title[0].value == "Why this class?"
    expected = why.explain(lite0, samples["coffee"])
    assert len(shares(at)) == 8 and shares(at)[0] == f"{expected.channels[0].share:+.1%} of the score"
    assert at.metric[0].value == f"{expected.logit:+.3f}"
    captions = [caption for image in at.get("image") for caption in image.captions]
    assert captions.count("where it fired") == 8 and captions.count("what it responds to") == 8
    assert captions.count("where it counted") == 8
    assert any("so each channel counted where it fired" in caption.value for caption in at.caption)  # top_relu: GAP
    assert "coffee" in captions  # the photo's own patch among the examples
    assert at.query_params["photo"] == "coffee" and at.query_params["class"] == "967"


def test_page_link_opens_a_contrast_on_a_layer():
    at = why_page(features=False, photo="coffee", **{"class": "967"}, contrast="504", layer="block6a_expand_conv")
    assert not at.exception and not at.warning, (at.exception, at.warning)
    assert at.selectbox(key="why_contrast").value == 504
    assert at.selectbox(key="why_layer").value == "block6a_expand_conv"
    assert any("rather than **coffee mug**" in block.value for block in at.markdown)
    assert at.metric[0].label == "Logit difference"
    assert not any("counted where it fired" in caption.value for caption in at.caption)  # a layer before the GAP
    assert at.query_params["contrast"] == "504" and at.query_params["layer"] == "block6a_expand_conv"
