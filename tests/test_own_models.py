"""Users' own Keras models (issue 9): a table of common shapes, each saved as .keras and loaded with
vizcore.load_model, then asked for its layers, predictions, a heatmap on an inner layer, a few
filter steps and a short dream. Then: Grad-CAM through a nested base equals Grad-CAM on the same
model flattened by hand; a binary head's two maps are one linear map of opposite signs; scaling
suggestions; the models folder.
"""
from __future__ import annotations

import json
import subprocess

import keras
import numpy as np
import pytest
import tensorflow as tf

import vizcore
from conftest import test_steps as capped_steps
from own_models import (MOBILENET, SAMPLES, SHAPE_IDS, SHAPES, OwnModels, assert_one_line_error, conv_base,
                        mobilenet, own_output, photo, resnet_with_rescaling, shape_named, transfer_recipe)
from vizcore import cam, dream, filters, graph, user_models
from vizcore.models import VizModel

FILTER_STEPS = capped_steps(3)  # classic ascent steps: a few are enough to raise a live filter
DREAM_STEPS = capped_steps(2)   # one octave, two steps


@pytest.fixture(scope="session")
def own(tmp_path_factory) -> OwnModels:
    return OwnModels(tmp_path_factory.mktemp("own-models"))


@pytest.fixture(scope="session")
def cat() -> np.ndarray:
    return photo()


@pytest.fixture(params=SHAPES, ids=SHAPE_IDS)
def shape(request):
    return request.param


# --- the table: every shape on every page's engine call -------------------------------------------

def test_layers_are_listed_through_the_nesting(own, shape):
    vm = own.loaded(shape)
    names = [info.name for info in vm.conv_layers()]
    assert shape.layer in names, names
    assert vm.channels == shape.channels
    info = vm.layer(shape.layer)
    assert info.channels == graph.find(vm.keras, shape.layer).output.shape[-1]
    assert [i.depth for i in vm.conv_layers()] == sorted(i.depth for i in vm.conv_layers())
    if shape.nested:
        base = shape.layer.split("/")[0]
        inner = [name for name in names if name.startswith(base + "/")]
        assert len(inner) >= 2 and base not in names, names  # the base is opened, not listed as one layer
        assert vm.layer(shape.layer.split("/")[-1]).name == shape.layer  # a unique inner name finds it too


def test_predict_is_shaped_for_the_head(own, shape, cat):
    vm = own.loaded(shape)
    assert vm.head is not None and vm.head.kind == shape.head, vm.head
    predictions = vm.predict(cat, top=20)
    own_values = own_output(vm, cat)
    if shape.head == "regression":
        assert len(predictions) == len(own_values)
        assert [p.probability for p in predictions] == [None] * len(predictions)
        np.testing.assert_allclose([p.value for p in predictions], own_values, rtol=1e-4, atol=1e-5)
        return
    shown = {p.index: p.probability for p in predictions}
    assert all(0.0 <= p <= 1.0 for p in shown.values())
    assert [p.probability for p in predictions] == sorted(shown.values(), reverse=True)
    if shape.head == "binary":
        assert len(predictions) == 2 and {p.label for p in predictions} == {"negative", "positive"}
        assert shown[1] == pytest.approx(float(own_values[0]), abs=1e-5)
        assert shown[0] + shown[1] == pytest.approx(1.0, abs=1e-5)
    elif shape.head == "multilabel":  # independent: each the model's own sigmoid, no sum to 1
        np.testing.assert_allclose([shown[i] for i in range(len(own_values))], own_values, atol=1e-5)
    else:  # softmax, or logits shown through a softmax
        expected = own_values if shape.head == "softmax" else tf.nn.softmax(own_values).numpy()
        assert sum(shown.values()) == pytest.approx(1.0, abs=1e-4)
        np.testing.assert_allclose([shown[i] for i in range(len(expected))], expected, atol=1e-5)


def test_heatmap_on_an_inner_layer(own, shape, cat):
    vm = own.loaded(shape)
    result = cam.heatmap(vm, cat, layer=shape.layer)
    assert result.layer == shape.layer
    assert result.heatmap.shape == cat.shape[:2] and result.heatmap.dtype == np.float32
    assert np.all(np.isfinite(result.heatmap)) and result.heatmap.min() >= 0.0 and result.heatmap.max() <= 1.0
    assert 0 <= result.class_index < vm.classes


def test_default_heatmap_layer_is_the_last_spatial_one_at_any_depth(own, shape):
    vm = own.loaded(shape)
    layer = cam.default_layer(vm)
    spatial = [info.name for info in vm.conv_layers() if vm.layer_size(info.name) != (1, 1)]
    assert layer == spatial[-1]
    if shape.nested:
        assert layer.split("/")[0] == shape.layer.split("/")[0]


def test_a_few_filter_steps_raise_an_inner_filter(own, shape):
    vm = own.loaded(shape)
    *_, final = filters.visualize(vm, shape.layer, range(4), steps=FILTER_STEPS, seed=0)
    live = ~final.dead  # a ReLU filter that never fires on grey noise has no gradient: left out
    assert live.any(), final
    assert np.all(final.activations[live] > final.initial[live]), (final.initial, final.activations)
    assert final.images.dtype == np.uint8 and final.images.shape[0] == 4
    if shape.channels == 1:  # a grey model's filters are drawn in grey
        assert np.array_equal(final.images[..., 0], final.images[..., 1])
        assert np.array_equal(final.images[..., 0], final.images[..., 2])


def test_a_short_dream_keeps_the_photo_size(own, shape, cat):
    vm = own.loaded(shape)
    frames = list(dream.dream(vm, cat, {shape.layer: 1.0}, steps=DREAM_STEPS, octaves=1))
    assert len(frames) == DREAM_STEPS
    assert all(frame.image.shape == cat.shape and frame.image.dtype == np.uint8 for frame in frames)
    assert not np.array_equal(frames[-1].image, vm.as_seen(cat))  # the dream changed something
    if shape.channels == 1:
        assert np.array_equal(frames[-1].image[..., 0], frames[-1].image[..., 2])


def test_the_default_dream_mix_works(own, shape):
    vm = own.loaded(shape)
    mix = dream.default_layers(vm)
    assert mix and all(name in {info.name for info in vm.conv_layers()} for name in mix)
    start = photo((160, 200))
    frames = list(dream.dream(vm, start, mix, steps=1, octaves=1))
    assert frames[-1].image.shape == start.shape


@pytest.mark.parametrize("name, side", [("mnist_grey_28", 28), ("vgg_32_logits", 32),
                                        ("nested_sequential_32_binary", 32)])
@pytest.mark.parametrize("mode", ["classic", "robust"])
def test_small_fixed_models_get_filters_at_their_own_size(own, name, side, mode):
    shape = shape_named(name)
    vm = own.loaded(shape)
    *_, final = filters.visualize(vm, shape.layer, range(2), mode=mode, steps=FILTER_STEPS, seed=0)
    assert final.images.shape == (2, side, side, 3)
    if shape.channels == 1:
        assert np.array_equal(final.images[..., 0], final.images[..., 1])


def test_which_layer_is_explained_and_ranked_on_a_nested_model(own, cat):
    shape = shape_named("mobilenetv2_sequential_binary")  # the transfer recipe
    vm = own.loaded(shape)
    assert cam.default_layer(vm) == f"{MOBILENET}/out_relu"
    assert f"{MOBILENET}/out_relu" in cam.default_layer_reason(vm)
    ranked = cam.rank_layers(vm, cam.cam_request(vm, cat, class_index=1), count=2)
    assert len(ranked) == 2 and all(score.layer.startswith(MOBILENET + "/") for score in ranked)
    assert [score.faithfulness for score in ranked] == sorted((score.faithfulness for score in ranked), reverse=True)
    assert all(score.result.heatmap.shape == cat.shape[:2] for score in ranked)


@pytest.fixture(scope="module")
def reshaped(own):
    """32×32 conv → Flatten → Dense → Reshape(8, 8, 4) → conv: the last conv only runs at the model's size."""
    keras.utils.set_random_seed(0)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, strides=2, padding="same", activation="relu", name="conv_in")(inputs)
    x = keras.layers.Reshape((8, 8, 4))(keras.layers.Dense(256, name="mix")(keras.layers.Flatten()(x)))
    x = keras.layers.Conv2D(6, 3, padding="same", name="after_reshape")(x)
    outputs = keras.layers.Dense(3, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x))
    path = own.folder / "reshaped.keras"
    keras.Model(inputs, outputs).save(path)
    return vizcore.load_model(path)


def test_a_view_through_flatten_keeps_the_models_size(reshaped):
    """Flatten → Dense needs the model's own size; a view that claims any size fails at run time."""
    assert tuple(reshaped.extractor(["conv_in"]).inputs[0].shape[1:3]) == (None, None)
    assert tuple(reshaped.extractor(["after_reshape"]).inputs[0].shape[1:3]) == (32, 32)


def test_a_layer_that_needs_the_models_size_still_works(reshaped, cat):
    result = cam.heatmap(reshaped, cat, layer="after_reshape")
    assert result.heatmap.shape == cat.shape[:2] and result.grid.shape == (8, 8)
    *_, final = filters.visualize(reshaped, "after_reshape", range(2), steps=FILTER_STEPS, seed=0)
    assert final.images.shape == (2, 32, 32, 3) and np.all(final.activations > final.initial)
    *_, final = filters.visualize(reshaped, "after_reshape", range(2), steps=1, size=66, seed=0)  # resized to 32
    assert final.images.shape == (2, 66 - 2 * filters.CROP, 66 - 2 * filters.CROP, 3)
    frames = list(dream.dream(reshaped, cat, {"after_reshape": 1.0}, steps=DREAM_STEPS, octaves=1))
    assert frames[-1].image.shape == (32, 32, 3)  # the photo resized to the only size the layer takes
    with pytest.raises(vizcore.RequestError, match="octaves to 1"):
        dream.dream(reshaped, cat, {"after_reshape": 1.0}, steps=DREAM_STEPS, octaves=2)


# --- nested equals flat ----------------------------------------------------------------------------

@pytest.fixture(scope="module")
def nested_and_flat():
    """The transfer recipe (softmax head) and the same layers called on the base's own graph: a flat
    Functional model with the very same layer objects, so the same weights."""
    keras.utils.set_random_seed(1)
    base = mobilenet()
    pool, dropout, dense = (keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.2),
                            keras.layers.Dense(3, activation="softmax"))
    nested = keras.Sequential([keras.Input((96, 96, 3)), base, pool, dropout, dense], name="nested")
    flat = keras.Model(base.input, dense(dropout(pool(base.output))), name="flat")
    assert not any(graph.is_container(layer) for layer in flat.layers)
    labels = ("a", "b", "c")
    return VizModel("nested", nested, (96, 96), labels, "tf"), VizModel("flat", flat, (96, 96), labels, "tf")


@pytest.mark.parametrize("method", ["gradcam", "gradcam++", "layercam"])
@pytest.mark.parametrize("layer", ["block_13_expand_relu", "block_6_project_BN", "out_relu"])
def test_cam_on_a_nested_model_equals_cam_on_it_flattened(nested_and_flat, cat, method, layer):
    nested, flat = nested_and_flat
    np.testing.assert_allclose(nested.keras(nested.preprocess(nested.resize_for_input(cat))),
                               flat.keras(flat.preprocess(flat.resize_for_input(cat))), atol=1e-6)
    informative = 0
    for class_index in range(3):
        ours = cam.heatmap(nested, cat, class_index=class_index, layer=f"{MOBILENET}/{layer}", method=method)
        theirs = cam.heatmap(flat, cat, class_index=class_index, layer=layer, method=method)
        np.testing.assert_allclose(ours.grid, theirs.grid, atol=1e-5)
        np.testing.assert_allclose(ours.heatmap, theirs.heatmap, atol=1e-5)
        assert ours.score == pytest.approx(theirs.score, abs=1e-6)
        informative += ours.grid.max() == 1.0  # not a flat map: the comparison means something
    assert informative >= 1


def test_default_layer_of_a_nested_model_is_the_flat_models_with_its_path(nested_and_flat):
    nested, flat = nested_and_flat
    assert cam.default_layer(nested) == f"{MOBILENET}/{cam.default_layer(flat)}" == f"{MOBILENET}/out_relu"
    assert [info.name for info in nested.conv_layers()] == [f"{MOBILENET}/{info.name}" for info in flat.conv_layers()]


def test_filters_and_dream_on_a_nested_model_equal_them_flattened(nested_and_flat, cat):
    nested, flat = nested_and_flat
    layer = "block_5_expand"
    *_, ours = filters.visualize(nested, f"{MOBILENET}/{layer}", [0, 3], steps=FILTER_STEPS, size=96, seed=0)
    *_, theirs = filters.visualize(flat, layer, [0, 3], steps=FILTER_STEPS, size=96, seed=0)
    np.testing.assert_allclose(ours.activations, theirs.activations, rtol=1e-4, atol=1e-6)
    ours = dream.dream_gradients(nested, cat, {f"{MOBILENET}/{layer}": 1.0})
    theirs = dream.dream_gradients(flat, cat, {layer: 1.0})
    assert ours[0] == pytest.approx(theirs[0], rel=1e-5)
    np.testing.assert_allclose(ours[1], theirs[1], rtol=1e-3, atol=1e-4)


# --- a binary head: one linear map, two signs --------------------------------------------------------

def test_binary_maps_come_from_one_linear_map_of_opposite_signs(own, cat):
    shape = shape_named("nested_sequential_32_binary")
    vm = own.loaded(shape)
    view = cam.compiled_view(vm, shape.layer)
    inputs = tf.constant(vm.preprocess(vm.resize_for_input(cat)))
    one = tf.constant(1.0)
    acts, grads_negative, logits, _ = view.activations_and_gradients(inputs, tf.constant(0), one)
    _, grads_positive, _, _ = view.activations_and_gradients(inputs, tf.constant(1), one)
    np.testing.assert_allclose(logits[:, 0], -logits[:, 1], rtol=1e-6)
    np.testing.assert_allclose(grads_negative, -grads_positive, rtol=1e-6, atol=1e-12)
    probability = float(own_output(vm, cat)[0])
    assert float(logits[0, 1]) == pytest.approx(np.log(probability / (1 - probability)), abs=1e-3)  # the logit
    linear = np.sum(acts[0].numpy() * grads_positive[0].numpy().mean(axis=(0, 1)), axis=-1)  # Σ_k w_k A_k
    assert (linear > 0).any() and (linear < 0).any(), linear  # both maps have something to show
    positive = cam.heatmap(vm, cat, class_index=1, layer=shape.layer)
    negative = cam.heatmap(vm, cat, class_index=0, layer=shape.layer)
    np.testing.assert_allclose(positive.grid, _relu_normalised(linear), atol=1e-5)
    np.testing.assert_allclose(negative.grid, _relu_normalised(-linear), atol=1e-5)
    assert np.all(positive.grid * negative.grid == 0)  # where one is hot the other is cold
    lower = cam.heatmap(vm, cat, class_index=1, layer=shape.layer, lower=True)
    np.testing.assert_allclose(lower.grid, negative.grid, atol=1e-6)
    assert {positive.label, negative.label} == {"positive", "negative"}
    assert positive.score + negative.score == pytest.approx(1.0, abs=1e-5)


def _relu_normalised(values: np.ndarray) -> np.ndarray:
    values = np.maximum(values, 0)
    return (values - values.min()) / (values.max() - values.min())


def test_regression_heatmap_can_show_what_lowers_the_value(own, cat):
    shape = shape_named("any_size_regression")
    vm = own.loaded(shape)
    raises = cam.heatmap(vm, cat, layer=shape.layer)
    lowers = cam.heatmap(vm, cat, layer=shape.layer, lower=True)
    assert lowers.lower and not raises.lower and raises.class_index == lowers.class_index == 0
    assert raises.score == pytest.approx(float(own_output(vm, cat)[0]), abs=1e-5)
    assert np.all(raises.grid * lowers.grid == 0)


def test_three_linear_outputs_read_as_logits_unless_told(own):
    shape = shape_named("three_values_regression")
    _, path = own.saved(shape)
    assert vizcore.load_model(path).head.kind == "logits"
    with pytest.raises(vizcore.ModelError, match="binary head has one sigmoid unit"):
        vizcore.load_model(path, head="binary")


def test_two_outputs_each_can_be_picked(own, cat):
    shape = shape_named("two_outputs_value")
    _, path = own.saved(shape)
    model = vizcore.load_model(path)
    assert model.output_index == 0 and model.head.kind == "softmax" and model.classes == 4
    assert graph.output_names(model.keras) == ["classes", "value"]
    by_index = vizcore.load_model(path, output=1)
    assert by_index.output_index == 1 and by_index.head.kind == "regression"
    with pytest.raises(vizcore.ModelError, match="no output 'nope'.*classes, value"):
        vizcore.load_model(path, output="nope")
    with pytest.raises(vizcore.ModelError, match="output 2 does not exist"):
        vizcore.load_model(path, output=2)


def test_a_grey_model_sees_photos_in_grey(own, cat):
    shape = shape_named("mnist_grey_28")
    vm = own.loaded(shape)
    inputs = vm.preprocess(cat)[0]
    luma = cat.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32) / 255.0  # 0-1 scaling
    for channel in range(3):
        np.testing.assert_allclose(inputs[..., channel], luma, atol=1e-5)
    grey = vm.as_seen(cat)
    assert grey.shape == cat.shape and np.array_equal(grey[..., 0], grey[..., 1])


# --- scaling suggestions --------------------------------------------------------------------------

def _resnet_nested() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = keras.applications.ResNet50V2(input_shape=(32, 32, 3), include_top=False, weights=None)(inputs)
    return keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))


def _efficientnet_nested() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    return keras.Model(inputs, keras.applications.EfficientNetB0(input_shape=(32, 32, 3), include_top=False,
                                                                 weights=None)(inputs))


def _plain() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv_base("features", 32)(inputs)))


def _normalization_inside() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Normalization(mean=[120.0] * 3, variance=[3600.0] * 3)(inputs)
    return keras.Model(inputs, keras.layers.GlobalAveragePooling2D()(conv_base("features", 32)(x)))


@pytest.mark.parametrize("build, word, reason", [
    (resnet_with_rescaling, "raw", "Rescaling"),            # Rescaling inside, before a ResNet50V2 base
    (_normalization_inside, "raw", "Normalization"),
    (transfer_recipe, "-1-1", "MobileNetV2"),               # a nested keras.applications base, by its name
    (_resnet_nested, "-1-1", "ResNetV2"),
    (_efficientnet_nested, "raw", "Rescaling"),            # it rescales inside the base
    (_plain, "0-1", ""),
], ids=["rescaling", "normalization", "mobilenetv2", "resnet50v2", "efficientnetb0", "plain"])
def test_scaling_suggestions(build, word, reason):
    suggested, why = user_models.suggest_scaling(build())
    assert suggested == word and (reason.lower() in why.lower() if reason else why == ""), (suggested, why)


def test_the_suggestion_is_used_and_said_and_the_user_can_override_it(own):
    shape = shape_named("mobilenetv2_sequential_binary")
    _, path = own.saved(shape)
    suggested = vizcore.load_model(path)
    assert suggested.scaling == "tf" and "MobileNetV2" in suggested.scaling_note
    chosen = vizcore.load_model(path, scaling="0-1")
    assert chosen.scaling == "unit"


# --- the models folder ------------------------------------------------------------------------------

def cli(capsys, *argv: str) -> subprocess.CompletedProcess:
    """``python -m vizcore ARGV`` through the CLI's main, in the test's process (the environment as set)."""
    from vizcore.cli import main
    try:
        code = main(list(argv))
    except SystemExit as exit:  # argparse
        code = exit.code
    out, err = capsys.readouterr()
    return subprocess.CompletedProcess(["python", "-m", "vizcore", *argv], code, out, err)


def test_a_models_folder_makes_a_file_loadable_by_name(own, tmp_path, monkeypatch, capsys):
    _, source = own.saved(shape_named("mobilenetv2_sequential_binary"))  # the transfer recipe: nested MobileNetV2, sigmoid head
    folder = tmp_path / "models"
    folder.mkdir()
    path = folder / "leaves.keras"
    path.write_bytes(source.read_bytes())
    (folder / "leaves.labels.txt").write_text("healthy\nblighted\n")
    (folder / "notes.txt").write_text("not a model")
    monkeypatch.setenv("VIZCORE_MODELS_DIR", str(folder))
    assert user_models.models_dir() == folder and user_models.folder_models() == {"leaves": path}

    vm = vizcore.load_model("leaves")
    assert vm.name == "leaves" and vm.labels == ("healthy", "blighted") and vm.scaling == "tf"
    assert user_models.remember(path, scaling="0-1", head="binary")
    assert user_models.remembered(path) == {"scaling": "0-1", "head": "binary"}
    again = vizcore.load_model("leaves.keras")
    assert again.scaling == "unit" and again.labels == ("healthy", "blighted")
    assert vizcore.load_model("leaves", scaling="-1-1").scaling == "tf"  # the user can always override

    runs = {"predict": cli(capsys, "predict", "leaves", str(SAMPLES / "cat.jpg"), "--json"),
            "layers": cli(capsys, "layers", "leaves.keras", "--json"),
            "unknown": cli(capsys, "layers", "ferns")}  # VIZCORE_MODELS_DIR is the folder (monkeypatch above)
    result = runs["predict"]
    assert result.returncode == 0, result.stderr
    assert {p["label"] for p in json.loads(result.stdout)["predictions"]} == {"healthy", "blighted"}
    assert_one_line_error(runs["unknown"], "leaves")  # the message names the folder's models
    result = runs["layers"]
    assert result.returncode == 0, result.stderr
    layers = json.loads(result.stdout)["layers"]
    assert {"name": f"{MOBILENET}/block_13_expand_relu", "channels": 192, "kind": "ReLU"} in \
        [{key: row[key] for key in ("name", "channels", "kind")} for row in layers]
    assert [row["depth"] for row in layers] == sorted(row["depth"] for row in layers)


def test_a_models_folder_that_does_not_exist_is_empty(tmp_path, monkeypatch):
    monkeypatch.setenv("VIZCORE_MODELS_DIR", str(tmp_path / "missing"))
    assert user_models.folder_models() == {}
    with pytest.raises(vizcore.ModelError, match="Unknown model 'leaves'"):
        vizcore.load_model("leaves")


def test_settings_that_cannot_be_written_are_not_remembered(own, tmp_path):
    path = tmp_path / "gone" / "mine.keras"  # its folder is not there: as unwritable as a read-only one
    assert user_models.remember(path, scaling="raw") is False
    assert user_models.remembered(path) == {}
