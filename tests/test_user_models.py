"""Bad models, through the engine and the CLI (``vizcore.cli.main``, as ``python -m vizcore`` runs
it): a clear message, one line on stderr, exit 2, never a traceback; a model without feature maps
still predicts. Lambda payloads in .keras and .h5 files
are live (an unsafe load runs them) and vizcore refuses them without running them; a legitimate
.h5 model loads and predicts like its .keras twin.
"""
from __future__ import annotations

import json
import re
import subprocess
import zipfile
from pathlib import Path
from typing import Callable, NamedTuple

import keras
import numpy as np
import pytest

import vizcore
from own_models import SAMPLES, assert_one_line_error, conv_base, run_cli, two_levels
from vizcore import cam, dream, filters, user_models

PHOTO = str(SAMPLES / "cat.jpg")

# A custom layer, as a user's training code defines it; passed to --custom-objects, the file
# registers the class so that a model using it loads.
CUSTOM_LAYER_FILE = '''
import keras


@keras.saving.register_keras_serializable(package="mine")
class Brighten(keras.layers.Layer):
    def call(self, inputs):
        return inputs * 1.5
'''


def save(model: keras.Model, path: Path) -> Path:
    model.save(path)
    return path


def pooled_head(inputs, x, units: int = 2) -> keras.Model:
    return keras.Model(inputs, keras.layers.Dense(units, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))


def small_model() -> keras.Model:
    inputs = keras.Input((32, 32, 3))
    return pooled_head(inputs, conv_base("features", 32)(inputs))


# --- the bad-model table ----------------------------------------------------------------------------

def tabular(folder: Path) -> Path:
    inputs = keras.Input((10,))
    return save(keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs)), folder / "tabular.keras")


def text(folder: Path) -> Path:
    inputs = keras.Input((20,), dtype="int32")
    x = keras.layers.GlobalAveragePooling1D()(keras.layers.Embedding(100, 8)(inputs))
    return save(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)), folder / "text.keras")


def two_image_inputs(folder: Path) -> Path:
    left, right = keras.Input((32, 32, 3)), keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3)(keras.layers.Concatenate()([left, right]))
    model = keras.Model([left, right], keras.layers.Dense(2, activation="softmax")(keras.layers.GlobalAveragePooling2D()(x)))
    return save(model, folder / "two_inputs.keras")


def channels_first(folder: Path) -> Path:
    inputs = keras.Input((3, 32, 32))
    x = keras.layers.Flatten()(inputs)
    return save(keras.Model(inputs, keras.layers.Dense(2, activation="softmax")(x)), folder / "channels_first.keras")


def four_channels(folder: Path) -> Path:
    inputs = keras.Input((32, 32, 4))
    return save(pooled_head(inputs, keras.layers.Conv2D(4, 3)(inputs)), folder / "rgba.keras")


def corrupt(folder: Path) -> Path:
    path = folder / "corrupt.keras"
    path.write_bytes(np.random.default_rng(0).integers(0, 256, 4096, dtype=np.uint8).tobytes())
    return path


def corrupt_h5(folder: Path) -> Path:
    path = folder / "corrupt.h5"
    path.write_bytes(b"this is not HDF5" * 100)
    return path


def truncated(folder: Path) -> Path:
    whole = save(small_model(), folder / "whole.keras").read_bytes()
    path = folder / "truncated.keras"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def truncated_h5(folder: Path) -> Path:
    whole = save(small_model(), folder / "whole.h5").read_bytes()
    path = folder / "truncated.h5"
    path.write_bytes(whole[: len(whole) // 2])
    return path


def unbuildable(folder: Path) -> Path:
    """A .keras file whose config no longer fits its layers (conv_a widened): the model fails to build."""
    source = save(small_model(), folder / "buildable.keras")
    with zipfile.ZipFile(source) as archive:
        files = {name: archive.read(name) for name in archive.namelist()}
    files["config.json"] = files["config.json"].replace(b'"filters": 8', b'"filters": 9')
    assert b'"filters": 9' in files["config.json"], "the config format changed: widen conv_a another way"
    path = folder / "unbuildable.keras"
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in files.items():
            archive.writestr(name, data)
    return path


def custom_object(folder: Path) -> Path:
    """Saved with the class registered, then the registration removed: as for a user without their code."""
    script = folder / "brighten.py"
    script.write_text(CUSTOM_LAYER_FILE)
    namespace = {"__name__": "brighten"}
    exec(compile(CUSTOM_LAYER_FILE, str(script), "exec"), namespace)
    inputs = keras.Input((32, 32, 3))
    x = keras.layers.Conv2D(4, 3, activation="relu", name="conv")(namespace["Brighten"](name="brighten")(inputs))
    path = save(pooled_head(inputs, x), folder / "custom.keras")
    del keras.saving.get_custom_objects()["mine>Brighten"]
    return path


def saved_model_folder(folder: Path) -> Path:
    path = folder / "exported"
    (path / "variables").mkdir(parents=True)
    (path / "saved_model.pb").write_bytes(b"\x08\x01")
    return path


def plain_folder(folder: Path) -> Path:
    path = folder / "just_a_folder"
    path.mkdir()
    return path


def wrong_suffix(folder: Path) -> Path:
    path = folder / "weights.pt"
    path.write_bytes(b"PK\x03\x04 not a keras model")
    return path


def missing(folder: Path) -> Path:
    return folder / "nowhere.keras"


class Bad(NamedTuple):
    name: str
    make: Callable[[Path], Path]
    words: str  # what the one-line message must say


BAD = [
    Bad("tabular", tabular, "not images"),
    Bad("text", text, "not images"),
    Bad("two_image_inputs", two_image_inputs, "has 2 inputs"),
    Bad("channels_first", channels_first, "channels-first"),
    Bad("four_channels", four_channels, "4 channels"),
    Bad("corrupt", corrupt, "not a .keras model file"),
    Bad("corrupt_h5", corrupt_h5, "not an HDF5 (.h5) model file"),
    Bad("truncated", truncated, "truncated"),
    Bad("truncated_h5", truncated_h5, "could not be loaded"),
    Bad("unbuildable", unbuildable, "could not be loaded"),
    Bad("custom_object", custom_object, "needs the custom class 'Brighten'"),
    Bad("saved_model_folder", saved_model_folder, "SavedModel"),
    Bad("plain_folder", plain_folder, "is a folder, not a model file"),
    Bad("wrong_suffix", wrong_suffix, "saved as .keras"),
    Bad("missing", missing, "No model file"),
]
BAD_IDS = [case.name for case in BAD]


@pytest.fixture(scope="module")
def bad_files(tmp_path_factory) -> dict[str, Path]:
    folder = tmp_path_factory.mktemp("bad-models")
    keras.utils.set_random_seed(0)
    return {case.name: case.make(folder) for case in BAD}


@pytest.fixture(scope="module")
def flat_model(tmp_path_factory) -> Path:
    """Flatten → Dense → Dense(3, softmax) on 16×16 photos: no layer with feature maps."""
    inputs = keras.Input((16, 16, 3))
    x = keras.layers.Dense(8, activation="relu", name="hidden")(keras.layers.Flatten(name="flatten")(inputs))
    outputs = keras.layers.Dense(3, activation="softmax", name="classes")(x)
    return save(keras.Model(inputs, outputs), tmp_path_factory.mktemp("flat") / "flat.keras")


@pytest.fixture(scope="module")
def lambda_files(tmp_path_factory) -> dict[str, tuple[Path, Path]]:
    """{suffix: (a model whose Lambda writes a marker file when it runs, the marker)} for .h5 and .keras."""
    folder, files = tmp_path_factory.mktemp("lambda"), {}
    for suffix in (".h5", ".keras"):
        marker = folder / f"payload_ran{suffix}.txt"
        payload = eval(f"lambda t: (open({str(marker)!r}, 'w').write('ran'), t)[1]")  # its code goes in the file
        inputs = keras.Input((16, 16, 3))
        x = keras.layers.Lambda(payload, name="payload")(keras.layers.Conv2D(4, 3, name="conv")(inputs))
        files[suffix] = (save(pooled_head(inputs, x), folder / f"lambda{suffix}"), marker)
        marker.unlink()  # building the model ran it once, here, on purpose
    return files


@pytest.fixture(scope="module")
def cli_runs(bad_files, flat_model, lambda_files, tmp_path_factory) -> dict[str, subprocess.CompletedProcess]:
    """Every CLI command of this module, run in one interpreter (see own_models.run_cli)."""
    out = tmp_path_factory.mktemp("cli-out")
    commands = {name: ["predict", str(path), PHOTO] for name, path in bad_files.items()}
    commands.update({
        "flat predict": ["predict", str(flat_model), PHOTO, "--json"],
        "flat cam": ["cam", str(flat_model), PHOTO, "--out", str(out / "cam.png")],
        "flat filters": ["filters", str(flat_model), "hidden", "--out", str(out / "grid.png")],
        "flat dream": ["dream", str(flat_model), PHOTO, "--out", str(out / "dream.png")],
        "flat layers": ["layers", str(flat_model), "--json"],
    })
    commands.update({f"lambda {suffix}": ["predict", str(path), PHOTO] for suffix, (path, _) in lambda_files.items()})
    script = bad_files["custom_object"].with_name("brighten.py")  # last: it registers the class for good
    commands["custom objects"] = ["predict", str(bad_files["custom_object"]), PHOTO, "--json",
                                  "--custom-objects", str(script)]
    return run_cli(commands)


@pytest.mark.parametrize("case", BAD, ids=BAD_IDS)
def test_engine_says_what_is_wrong(bad_files, case):
    with pytest.raises(vizcore.ModelError, match=re.escape(case.words)) as raised:
        vizcore.load_model(bad_files[case.name])
    assert "\n" not in str(raised.value) and len(str(raised.value)) < 600


@pytest.mark.parametrize("case", BAD, ids=BAD_IDS)
def test_cli_says_it_in_one_line(cli_runs, case):
    assert_one_line_error(cli_runs[case.name], case.words)


def test_custom_objects_file_makes_the_model_load(cli_runs):
    result = cli_runs["custom objects"]
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["predictions"]) == 2


def test_the_custom_object_message_says_how_to_register_it(bad_files):
    with pytest.raises(vizcore.ModelError) as raised:
        vizcore.load_model(bad_files["custom_object"])
    assert "register_keras_serializable" in str(raised.value) and "--custom-objects" in str(raised.value)


# --- no spatial layer: predict works, the rest says what is missing --------------------------------

def test_a_model_without_feature_maps_predicts(flat_model):
    vm = vizcore.load_model(flat_model)
    assert vm.conv_layers() == []
    predictions = vm.predict(vizcore.load_image(PHOTO), top=3)
    assert len(predictions) == 3 and sum(p.probability for p in predictions) == pytest.approx(1.0, abs=1e-5)


def test_a_model_without_feature_maps_says_what_is_missing(flat_model):
    vm = vizcore.load_model(flat_model)
    image = vizcore.load_image(PHOTO)
    with pytest.raises(vizcore.ModelError, match="no layer with spatial extent.*predictions still work"):
        cam.heatmap(vm, image)
    with pytest.raises(vizcore.RequestError, match="no layer with feature maps"):
        cam.heatmap(vm, image, layer="hidden")
    with pytest.raises(vizcore.RequestError, match="no layer with feature maps"):
        filters.visualize(vm, "hidden", [0])
    with pytest.raises(vizcore.RequestError, match="no layer with feature maps"):
        dream.dream(vm, image, {"hidden": 1.0})
    with pytest.raises(vizcore.VizcoreError, match="feature maps|spatial"):
        dream.default_layers(vm)


def test_cli_predicts_with_a_model_without_feature_maps(cli_runs):
    result = cli_runs["flat predict"]
    assert result.returncode == 0, result.stderr
    assert len(json.loads(result.stdout)["predictions"]) == 3


@pytest.mark.parametrize("command", ["cam", "filters", "dream"])
def test_cli_says_what_a_model_without_feature_maps_lacks(cli_runs, command):
    assert_one_line_error(cli_runs[f"flat {command}"], "feature map" if command != "cam" else "spatial extent")


def test_cli_lists_no_layers_for_a_model_without_feature_maps(cli_runs):
    result = cli_runs["flat layers"]
    assert "Traceback" not in result.stderr
    assert result.returncode == 0 and json.loads(result.stdout)["layers"] == [], result.stderr


# --- Lambda payloads: live, and refused without running ------------------------------------------------

@pytest.mark.parametrize("suffix", [".h5", ".keras"])
def test_a_lambda_payload_is_live_and_never_runs(lambda_files, cli_runs, suffix):
    path, marker = lambda_files[suffix]
    with pytest.raises(vizcore.ModelError, match="Lambda"):
        vizcore.load_model(path)
    assert not marker.exists(), "vizcore ran the Lambda's code"
    assert_one_line_error(cli_runs[f"lambda {suffix}"], "Lambda")
    assert not marker.exists(), "the CLI ran the Lambda's code"
    # the same file loaded unsafely, after the safe attempts: the payload runs, so the refusals above mattered
    keras.saving.load_model(path, safe_mode=False, compile=False)
    assert marker.read_text() == "ran", "the payload is not live: this test would prove nothing"


# --- a legitimate .h5 ----------------------------------------------------------------------------------

def test_a_legitimate_h5_model_loads_and_predicts_like_its_keras_twin(tmp_path):
    keras.utils.set_random_seed(0)
    model = two_levels()
    legacy = save(model, tmp_path / "legacy.h5")
    modern = save(model, tmp_path / "modern.keras")
    old, new = vizcore.load_model(legacy), vizcore.load_model(modern)
    assert [info.name for info in old.conv_layers()] == [info.name for info in new.conv_layers()]
    assert "middle/inner_base/conv_b" in [info.name for info in old.conv_layers()]
    image = vizcore.load_image(PHOTO)
    assert [(p.index, round(p.probability, 5)) for p in old.predict(image, top=3)] == \
        [(p.index, round(p.probability, 5)) for p in new.predict(image, top=3)]
    result = cam.heatmap(old, image, layer="middle/inner_base/conv_b")
    assert result.heatmap.shape == image.shape[:2]


def test_user_models_reads_only_known_suffixes():
    assert set(user_models.MODEL_SUFFIXES) >= {".keras", ".h5"}
