"""vizcore.graph: paths through nested models, and views that re-trace a model's own layers.

The first test pins the Keras internals graph.trace relies on (``Function._run_through_graph``
with ``inputs, operation_fn, call_fn``): if a Keras release changes them, it fails here, loudly,
before any page does.
"""
from __future__ import annotations

import inspect

import keras
import numpy as np
import pytest

from own_models import MOBILENET, conv_base, mnist, transfer_recipe, two_levels, two_outputs
from vizcore import graph
from vizcore.graph import Target
from vizcore.models import VizModel


@pytest.fixture(scope="module")
def nested():
    """Two levels: two_levels → middle (Sequential) → inner_base (Functional)."""
    keras.utils.set_random_seed(0)
    return two_levels()


@pytest.fixture(scope="module")
def recipe():
    """The transfer-learning recipe: Sequential around a MobileNetV2 base, a sigmoid head."""
    keras.utils.set_random_seed(0)
    return transfer_recipe()


def batch(size=(64, 64), channels=3, seed=0) -> np.ndarray:
    return np.random.default_rng(seed).uniform(-1, 1, (2, *size, channels)).astype(np.float32)


# --- the Keras internals this module uses -----------------------------------------------------------

def test_keras_graph_loop_is_what_graph_trace_expects(nested):
    from keras.src.models.functional import Functional
    from keras.src.ops.function import Function
    assert issubclass(Functional, Function), "Functional no longer derives from keras.src.ops.function.Function"
    parameters = list(inspect.signature(Function._run_through_graph).parameters)
    assert parameters[:4] == ["self", "inputs", "operation_fn", "call_fn"], (
        f"Function._run_through_graph changed its parameters to {parameters}: vizcore.graph._trace needs updating")
    inner = nested.get_layer("middle").get_layer("inner_base")
    called = []

    def call(layer, *args, **kwargs):
        called.append(layer)
        return layer(*args, **kwargs)
    outputs = inner._run_through_graph(keras.Input((64, 64, 3)), operation_fn=lambda op: op, call_fn=call)
    assert called == [layer for layer in inner.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert tuple(outputs.shape) == (None, 32, 32, 12)


def test_a_view_on_the_output_equals_the_models_own_output(nested, recipe):
    for model in (nested, recipe):
        path, _ = graph.producer(model)
        view = graph.view(model, [Target(path)], tuple(model.inputs[0].shape[1:]))
        x = batch(tuple(model.inputs[0].shape[1:3]))
        np.testing.assert_allclose(view(x), model(x), rtol=1e-5, atol=1e-6)


# --- paths ----------------------------------------------------------------------------------------

def test_walk_opens_two_levels_of_nesting_in_order(nested):
    paths = [path for path, _ in graph.walk(nested)]
    assert paths[:4] == ["middle/inner_base/conv_a", "middle/inner_base/pool_a", "middle/inner_base/conv_b",
                         "middle/middle_conv"]
    assert paths[-1] == "classes" and len(paths) == 6
    assert all(not graph.is_container(layer) for _, layer in graph.walk(nested))


def test_find_follows_paths_and_returns_the_very_layer(nested):
    inner = nested.get_layer("middle").get_layer("inner_base")
    assert graph.find(nested, "middle/inner_base/conv_b") is inner.get_layer("conv_b")
    assert graph.find(nested, "middle") is nested.get_layer("middle")
    assert graph.find(nested, "middle/inner_base/nope") is None
    assert graph.find(nested, "classes/kernel") is None  # not a container
    assert graph.find(nested, "nope") is None


def test_producer_looks_into_nested_models():
    head = keras.Sequential([keras.Input((12,)), keras.layers.Dense(2, activation="softmax", name="scores")],
                            name="head")
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.GlobalAveragePooling2D()(conv_base("features", 32)(inputs))
    model = keras.Model(inputs, head(x))
    path, layer = graph.producer(model)
    assert path == "head/scores" and layer is head.get_layer("scores")
    two = two_outputs()
    assert [graph.producer(two, i)[0] for i in range(2)] == ["classes", "value"]
    assert graph.output_names(two) == ["classes", "value"]


def test_pooled_layer_finds_what_a_global_average_pooling_feeds_into_a_dense():
    inputs = keras.Input((32, 32, 3))
    features = conv_base("features", 32)(inputs)
    pooled = keras.layers.Dropout(0.2)(keras.layers.GlobalAveragePooling2D(name="gap")(features))
    model = keras.Model(inputs, keras.layers.Dense(3, name="logits")(pooled))
    produced_by, _ = graph.tensor_producer(features)
    assert produced_by.startswith("features/")  # a nested model's layer, by its path
    assert graph.pooled_layer(model.get_layer("logits"), "logits") == produced_by  # through the Dropout
    flat = keras.Model(inputs, keras.layers.Dense(3, name="flat")(keras.layers.Flatten()(features)))
    assert graph.pooled_layer(flat.get_layer("flat"), "flat") is None  # no pooling: None


# --- views ----------------------------------------------------------------------------------------

def test_a_view_on_an_inner_layer_equals_the_base_on_its_own(recipe):
    base = recipe.get_layer(MOBILENET)
    view = graph.view(recipe, [Target(f"{MOBILENET}/block_6_expand_relu")], (96, 96, 3))
    own = keras.Model(base.input, base.get_layer("block_6_expand_relu").output)
    x = batch((96, 96))
    np.testing.assert_allclose(view(x), own(x), rtol=1e-5, atol=1e-6)


def test_a_view_on_an_early_layer_runs_only_the_layers_it_needs(recipe):
    whole = len(list(graph.walk(recipe)))
    early = graph.view(recipe, [Target(f"{MOBILENET}/block_1_expand")], (96, 96, 3))
    ran = [layer for layer in early.layers if not isinstance(layer, keras.layers.InputLayer)]
    assert whole > 150 and len(ran) <= 12, (whole, [layer.name for layer in ran])
    assert {layer.name for layer in ran} >= {"Conv1", "block_1_expand"}
    assert "out_relu" not in {layer.name for layer in ran}


def test_two_levels_deep_views_and_several_targets(nested):
    inner = nested.get_layer("middle").get_layer("inner_base")
    targets = [Target("middle/inner_base/conv_a"), Target("middle/middle_conv"), Target("classes", graph.INPUT)]
    view = graph.view(nested, targets, (64, 64, 3))
    x = batch()
    conv_a, middle_conv, pooled = view(x)
    np.testing.assert_allclose(conv_a, keras.Model(inner.input, inner.get_layer("conv_a").output)(x), atol=1e-6)
    np.testing.assert_allclose(middle_conv, nested.get_layer("middle")(x), atol=1e-6)
    np.testing.assert_allclose(pooled, np.mean(middle_conv, axis=(1, 2)), atol=1e-6)


def test_views_share_the_models_weights_and_make_no_new_variables(nested, recipe):
    for model, path in ((nested, "middle/inner_base/conv_b"), (recipe, f"{MOBILENET}/block_13_expand")):
        owned = {id(variable) for variable in model.weights}
        view = graph.view(model, [Target(path)], tuple(model.inputs[0].shape[1:]))
        assert view.weights and {id(variable) for variable in view.weights} <= owned
        walked = {id(layer) for _, layer in graph.walk(model)}
        assert all(id(layer) in walked for layer in view.layers if not isinstance(layer, keras.layers.InputLayer))
    conv = graph.find(nested, "middle/inner_base/conv_a")
    view = graph.view(nested, [Target("middle/inner_base/conv_a")], (64, 64, 3))
    x = batch()
    before = np.asarray(view(x))
    kernel = conv.kernel.numpy()
    try:
        conv.kernel.assign(kernel * 2)  # the view sees the model's weights change: they are the same variables
        changed = np.asarray(view(x))
        own = keras.Model(graph.find(nested, "middle/inner_base").input, conv.output)(x)
        np.testing.assert_allclose(changed, own, atol=1e-6)
        assert not np.allclose(changed, before)
    finally:
        conv.kernel.assign(kernel)
    np.testing.assert_allclose(view(x), before, atol=1e-6)


def test_a_view_takes_any_size_when_its_layers_do(recipe):
    view = graph.view(recipe, [Target(f"{MOBILENET}/block_3_expand")], (None, None, 3))
    assert tuple(view(batch((128, 160))).shape) == (2, 32, 40, 48)  # the base was built for 96 px


def test_a_view_adapts_rgb_inputs_for_a_grey_model():
    keras.utils.set_random_seed(0)
    model = mnist()
    view = graph.view(model, [Target("conv_2")], (28, 28, 3), adapt=lambda x: keras.ops.mean(x, axis=-1, keepdims=True))
    x = batch((28, 28))
    grey = keras.Model(model.inputs[0], model.get_layer("conv_2").output)(x.mean(axis=-1, keepdims=True))
    np.testing.assert_allclose(view(x), grey, atol=1e-6)


def test_a_target_the_graph_does_not_reach_is_named(nested):
    with pytest.raises(KeyError, match="middle/nope"):
        graph.view(nested, [Target("middle/nope")], (64, 64, 3))


def test_vizmodel_extractor_runs_nested_layers_at_any_size(recipe):
    vm = VizModel("recipe", recipe, (96, 96), ("negative", "positive"), "tf")
    extractor = vm.extractor([f"{MOBILENET}/block_6_expand_relu", "block_13_expand_relu"])  # a unique inner name
    assert tuple(extractor.inputs[0].shape[1:3]) == (None, None)
    six, thirteen = extractor(batch((128, 128)))
    assert tuple(six.shape) == (2, 16, 16, 96) and tuple(thirteen.shape) == (2, 8, 8, 192)
