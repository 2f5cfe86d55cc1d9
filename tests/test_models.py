import keras
import numpy as np
import pytest

import vizcore
from vizcore import efficientnet_lite
from vizcore.loading import load_model
from vizcore.models import SCALINGS
from vizcore.registry import BUNDLED, MODELS, NEEDS_DOWNLOAD


def test_lite0_calls_grace_hopper_a_military_uniform(lite0, grace_hopper):
    top = lite0.predict(grace_hopper, top=5)
    assert top[0].index == 652 and top[0].label == "military uniform"
    assert top[0].probability == pytest.approx(0.46, abs=0.02)
    assert [p.probability for p in top] == sorted((p.probability for p in top), reverse=True)


@pytest.mark.parametrize("sample, label", [("coffee", "espresso"), ("cat", "Egyptian cat")])
def test_lite0_names_other_samples(lite0, samples, sample, label):
    assert lite0.predict(samples[sample], top=1)[0].label == label


def test_labels_are_short_standard_names(lite0):
    assert len(lite0.labels) == 1000
    assert (lite0.labels[652], lite0.labels[281], lite0.labels[967]) == ("military uniform", "tabby", "espresso")


def test_layers_are_named_for_what_they_are(lite0):
    names = [info.name for info in lite0.conv_layers()]
    assert names[0] == "stem_conv" and names[-1] == "top_relu"
    assert {"block1a_dwconv", "block2a_expand_conv", "block4c_project_conv", "block7a_project_bn"} <= set(names)
    assert lite0.layer("top_conv").channels == 1280
    assert lite0.keras.get_layer("predictions").output.shape[-1] == 1000


def test_converted_weights_are_cached(lite0, tmp_path, monkeypatch):
    cached = list((vizcore.models.weights_cache_dir() / "weights").glob("efficientnet_lite0-*.weights.h5"))
    assert len(cached) == 1
    again = load_model("efficientnet_lite0")  # loads from the cache this time
    x = lite0.preprocess(np.full((64, 64, 3), 90, np.uint8))
    np.testing.assert_allclose(np.asarray(again.keras(x)), np.asarray(lite0.keras(x)), atol=1e-6)


@pytest.mark.parametrize("name, blocks, last_width", [("efficientnet_lite1", 21, 320), ("efficientnet_lite2", 21, 352)])
def test_lite1_lite2_block_tables_come_from_their_state_dicts(name, blocks, last_width):
    from vizcore.models import bundled_weights_path
    from vizcore.torch_weights import read_state_dict
    table = efficientnet_lite.blocks_from_state_dict(read_state_dict(bundled_weights_path(MODELS[name])))
    assert len(table) == blocks and table[-1].output_channels == last_width
    assert [b.stride for b in table if b.index_in_stage == 0] == list(efficientnet_lite.STAGE_STRIDES)


def test_registry_marks_sources():
    assert MODELS["efficientnet_lite0"].status == BUNDLED
    assert MODELS["vgg16"].status == NEEDS_DOWNLOAD  # the tests' KERAS_HOME is empty


@pytest.mark.parametrize("name", ["vgg16", "vgg19", "resnet50v2", "xception", "inception_v3", "mobilenet_v2",
                                  "efficientnet_b0"])
def test_zoo_architectures_build_without_weights(name):
    spec = MODELS[name]
    model = getattr(keras.applications, spec.keras_class)(weights=None)
    assert tuple(model.inputs[0].shape[1:3]) == spec.input_size
    assert model.outputs[0].shape[-1] == 1000


def test_zoo_offline_says_where_to_put_the_weights():
    with pytest.raises(vizcore.ModelError, match="Put vgg16_weights_tf_dim_ordering_tf_kernels.h5 in"):
        load_model("vgg16")


@pytest.mark.parametrize("scaling, module", [("caffe", "vgg16"), ("tf", "resnet_v2"), ("tf", "xception"),
                                             ("tf", "mobilenet_v2"), ("raw", "efficientnet")])
def test_scalings_match_keras_preprocess_input(scaling, module):
    pixels = np.random.default_rng(0).uniform(0, 255, (2, 5, 5, 3)).astype(np.float32)
    expected = getattr(keras.applications, module).preprocess_input(pixels.copy())
    np.testing.assert_allclose(SCALINGS[scaling].forward(pixels), expected, rtol=1e-5, atol=1e-4)
    np.testing.assert_allclose(SCALINGS[scaling].inverse(expected), pixels, rtol=1e-5, atol=1e-3)


def test_unknown_model():
    with pytest.raises(vizcore.ModelError, match="Unknown model 'nope'"):
        load_model("nope")


def _save(model, path):
    model.save(path)
    return path


def test_user_model_with_labels(tmp_path, tiny_model):
    path = _save(tiny_model.keras, tmp_path / "mine.keras")
    (tmp_path / "labels.txt").write_text("ant\nbee\ncat\ndog\n")
    vm = load_model(path, scaling="0-1", labels_path=tmp_path / "labels.txt")
    assert vm.labels == ("ant", "bee", "cat", "dog") and vm.input_size == (224, 224)
    assert [i.name for i in vm.conv_layers()] == ["conv_1", "conv_2", "conv_3"]
    assert len(vm.predict(np.zeros((40, 30, 3), np.uint8), top=2)) == 2


def test_user_model_with_lambda_is_refused_and_never_runs(tmp_path):
    marker = tmp_path / "ran.txt"
    inputs = keras.Input((8, 8, 3))
    x = keras.layers.Conv2D(2, 3)(inputs)
    x = keras.layers.Lambda(lambda t: t * 2)(x)
    path = _save(keras.Model(inputs, x), tmp_path / "lambda.keras")
    with pytest.raises(vizcore.ModelError, match="Lambda"):
        load_model(path)
    assert not marker.exists()


def test_truncated_user_model(tmp_path, tiny_model):
    path = _save(tiny_model.keras, tmp_path / "whole.keras")
    broken = tmp_path / "broken.keras"
    broken.write_bytes(path.read_bytes()[: path.stat().st_size // 2])
    with pytest.raises(vizcore.ModelError, match="broken.keras"):
        load_model(broken)


def test_user_model_without_conv_layers(tmp_path):
    inputs = keras.Input((8, 8, 3))
    outputs = keras.layers.Dense(3)(keras.layers.Flatten()(inputs))
    path = _save(keras.Model(inputs, outputs), tmp_path / "dense.keras")
    vm = load_model(path)  # loads: predictions still work, every map says what is missing
    assert vm.conv_layers() == [] and len(vm.predict(np.zeros((8, 8, 3), np.uint8), top=3)) == 3
    with pytest.raises(vizcore.RequestError, match="no layer with feature maps"):
        vm.layer("dense")


def test_layer_errors(lite0):
    with pytest.raises(vizcore.RequestError, match="has no layer 'nope'"):
        lite0.layer("nope")
    with pytest.raises(vizcore.RequestError, match="no spatial"):
        lite0.layer("avg_pool")
